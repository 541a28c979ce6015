"""Notifications end to end: the service tells a local webhook (Apprise's json:// URL)
what happened, in digests, one message per digest however many instances run, again
after the webhook was down, and never with the URL's secrets in a log line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from scheduler.settings import SettingsError, from_overrides
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite
from tests.notify_endpoint import NotifyEndpoint, notify_endpoint
from tests.test_commands import cli
from tests.test_pipeline import pipeline_settings, serving, wait_for

SECRET = "s3cr3t-t0ken"


def notified(database_url: str, redis_url: str, tmp_path: Path, urls: list[Any], **notify: Any) -> Any:
    return pipeline_settings(
        database_url, redis_url, tmp_path, notify={"urls": urls, "digest_s": 1.0, **notify}
    )


class ServiceLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += self.format(record) + "\n"


# Events some URL has not been told yet: 0 means no digest can still come.
UNTOLD = """
    SELECT count(*) FROM notify_events e JOIN notify_cursors c ON c.kind = e.kind
    WHERE e.id > c.last_event_id
"""


async def messages(hook: NotifyEndpoint, count: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The webhook's messages once it has `count` of them (the service works in real time)."""
    with trio.fail_after(timeout_s):
        # A poll on purpose: the webhook runs in a thread of its own.
        while len(hook.messages) < count:  # noqa: ASYNC110
            await trio.sleep(0.1)
    return hook.messages


async def test_deliveries_are_told_in_one_digest_with_their_titles(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for n in range(1, 8):
        site.add_video(f"v{n}", title=f"Video number {n}")
    feed = site.feed("feed", [f"v{n}" for n in range(1, 8)])
    with notify_endpoint() as hook:
        # Deliveries only: a failure is not this URL's business.
        urls = [{"url": hook.url(), "events": ["delivered"]}]
        async with serving(notified(database_url, redis_url, tmp_path, urls, digest_s=6.0)) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 7)
            [message] = await messages(hook, 1)
            await wait_for(db, UNTOLD, 0)  # every delivery told: nothing more can come

    assert len(hook.messages) == 1
    assert message["title"] == "Scheduler: 7 new videos delivered"
    head, *named, rest = message["message"].splitlines()
    assert head == "7 new videos delivered:"
    assert len(named) == 5 and {n.removeprefix("- ") for n in named} < {
        f"Video number {n}" for n in range(1, 8)
    }
    assert rest == "... and 2 more"


async def test_two_instances_send_one_message_per_digest(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for n in range(1, 5):
        site.add_video(f"v{n}")
    feed = site.feed("feed", [f"v{n}" for n in range(1, 5)])
    with notify_endpoint() as hook:
        urls = [hook.url()]
        first = notified(database_url, redis_url, tmp_path / "a", urls, digest_s=3.0)
        second = notified(database_url, redis_url, tmp_path / "b", urls, digest_s=3.0)
        async with serving(first) as (_, api), serving(second):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 4)
            await messages(hook, 1)
            await wait_for(db, UNTOLD, 0)
            await trio.sleep(1.0)  # both instances look for due digests every 0.3 s

    assert [m["title"] for m in hook.messages] == ["Scheduler: 4 new videos delivered"]
    assert await db.value("SELECT count(*) FROM instances") == 2


async def test_a_webhook_down_then_back_gets_the_digest_and_no_log_line_holds_its_secret(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # What reaches the service's log (its handlers are the root logger's). pytest's caplog
    # also listens on loggers that do not propagate, such as Apprise's: not the log's.
    log = ServiceLog()
    logging.getLogger().addHandler(log)
    site.add_video("v1", title="The one video")
    feed = site.feed("feed", ["v1"])
    with notify_endpoint() as hook:
        hook.down = True
        url = f"json://user:{SECRET}@127.0.0.1:{hook.port}/hook-{SECRET}"
        async with serving(notified(database_url, redis_url, tmp_path, [url])) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            with trio.fail_after(30):
                while hook.refused < 2:  # noqa: ASYNC110 (the webhook runs in its own thread)
                    await trio.sleep(0.1)
            hook.down = False
            [message] = await messages(hook, 1)

    assert message["title"] == "Scheduler: 1 new video delivered"
    assert "- The one video" in message["message"]
    assert "notify URL 1 (json): could not send 1 delivered events; trying again in" in caplog.text
    logging.getLogger().removeHandler(log)
    assert "notify URL 1 (json): could not send" in log.text  # at DEBUG, the log has everything else
    assert SECRET not in log.text
    assert SECRET not in repr(notified(database_url, redis_url, tmp_path, [url]))


async def test_a_digest_that_never_goes_is_dropped_after_its_attempts(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site.add_video("gone", size=1000)
    site.set_mode("gone", "404")  # fails for good at its only attempt
    feed = site.feed("feed", ["gone"])
    with notify_endpoint() as hook:
        hook.down = True
        urls = [{"url": hook.url(), "events": ["failed"]}]
        settings = pipeline_settings(
            database_url,
            redis_url,
            tmp_path,
            notify={"urls": urls, "digest_s": 0.5, "attempts": 2},
            downloader={"attempts": 1},
        )
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "failed")
            await wait_for(db, "SELECT count(*) FROM notify_cursors WHERE last_event_id > 0", 1)

    assert hook.refused == 2
    assert "notify URL 1 (json): 1 failed events dropped after 2 attempts to send them" in caplog.text


async def test_notify_test_says_which_urls_work(tmp_path: Path) -> None:
    with notify_endpoint() as up, notify_endpoint() as down:
        down.down = True
        # An environment variable's value is TOML: a table is written {url = "...", events = [...]}.
        urls = f'["{up.url(f"up-{SECRET}")}", {{url = "{down.url()}", events = ["failed"]}}]'
        done = await cli("notify", "test", SCHEDULER_NOTIFY__URLS=urls, SCHEDULER_DATA_DIR=str(tmp_path))

    assert done.returncode == 1
    assert done.stdout.decode().splitlines() == [
        "notify URL 1 (json): sent",
        "notify URL 2 (json): NOT SENT (see the URL, the service it names, the network)",
    ]
    assert [m["title"] for m in up.messages] == ["Scheduler: a test"]
    assert SECRET not in done.stdout.decode() + done.stderr.decode()


@pytest.mark.parametrize(
    ("urls", "problem"),
    [
        ("json://x/y", "SCHEDULER_NOTIFY__URLS: must be a list of Apprise URLs"),
        (
            [f"no-scheme-{SECRET}"],
            "SCHEDULER_NOTIFY__URLS: entry 1: must be an Apprise URL such as json://host/path",
        ),
        (
            ["json://a/b", {"url": f"json://h/{SECRET}", "events": ["everything"]}],
            "SCHEDULER_NOTIFY__URLS: entry 2 (json): events must be some of delivered, failed, breaker, "
            "cookies, listing, instance",
        ),
        ([f"nosuch://{SECRET}@host"], "SCHEDULER_NOTIFY__URLS: entry 1 (nosuch): not a URL Apprise knows"),
    ],
)
def test_a_bad_notification_url_is_named_without_its_secret(urls: Any, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        from_overrides({"notify": {"urls": urls}})
    assert str(refused.value).startswith(problem)
    assert SECRET not in str(refused.value)
