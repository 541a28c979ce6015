"""Logged-in sessions (SCHEDULER_SITES__COOKIES) against the content site: a login-only
video is delivered with the site's cookies and failed with a reason naming the setting
without them; a cookie reaches only the hosts its domain covers (the sites' access logs
show the headers they received); the file is read, never written; no cookie value ends up
in a log line, an event or what is delivered; expiry is told as an event, a metric and a
line of `scheduler sites`."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from scheduler.cli.render import describe
from scheduler.settings import Settings, SettingsError, from_overrides
from scheduler.sites import cookies
from scheduler.sites.breaker import login_reason
from scheduler.sites.cookies import CookieFileError, CookieJars
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import ALLOWED_SITES, Database
from tests.content_site import ContentSite, content_site
from tests.support import free_port, scrape
from tests.test_pipeline import pipeline_settings, serving, wait_for

SECRET = "s3cr3t-session-value"
HEADER = "# Netscape HTTP Cookie File\n"


def cookie_line(domain: str, name: str = "session", value: str = SECRET, expires: int = 0) -> str:
    subdomains = "TRUE" if domain.startswith(".") else "FALSE"
    return f"{domain}\t{subdomains}\t/\tFALSE\t{expires}\t{name}\t{value}\n"


def write_cookies(path: Path, *lines: str) -> Path:
    path.write_text(HEADER + "".join(lines))
    return path


# Pure: the file format, which cookies a site gets, what expiry says.


def test_a_netscape_file_is_parsed_httponly_lines_included() -> None:
    text = (
        HEADER
        + "# a comment\n\n"
        + cookie_line(".nicovideo.jp")
        + "#HttpOnly_"
        + cookie_line("www.nicovideo.jp", "h")
    )
    parsed = cookies.parse(text, "f.txt")
    assert [(c.domain, c.name, c.value, c.domain_specified) for c in parsed] == [
        (".nicovideo.jp", "session", SECRET, True),
        ("www.nicovideo.jp", "h", SECRET, False),
    ]
    assert all(c.expires is None and c.discard for c in parsed)  # 0: session cookies


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[{"name": "session", "value": "' + SECRET + '"}]', "not a Netscape cookies.txt"),
        (HEADER + f"nicovideo.jp {SECRET}\n", "line 2: not 7 tab-separated fields"),
        (
            HEADER + f"nicovideo.jp\tYES\t/\tFALSE\t0\tsession\t{SECRET}\n",
            "line 2: not a Netscape cookie line",
        ),
        (
            HEADER + f"nicovideo.jp\tFALSE\t/\tFALSE\tsoon\tsession\t{SECRET}\n",
            "line 2: the expiry is not a number",
        ),
    ],
    ids=["json", "fields", "flags", "expiry"],
)
def test_a_file_not_in_netscape_format_is_refused_without_its_values(text: str, problem: str) -> None:
    with pytest.raises(CookieFileError) as refused:
        cookies.parse(text, "f.txt")
    assert str(refused.value).startswith(f"f.txt: {problem}")
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize(
    ("pattern", "domain", "covered"),
    [
        ("*.nicovideo.jp", ".nicovideo.jp", True),
        ("*.nicovideo.jp", "www.nicovideo.jp", True),
        ("*.nicovideo.jp", ".youtube.com", False),
        ("*.nicovideo.jp", ".jp", False),
        ("*.nicovideo.jp", "evilnicovideo.jp", False),
        ("www.youtube.com", ".youtube.com", True),
        ("www.youtube.com", "www.youtube.com", True),
        ("www.youtube.com", "accounts.youtube.com", False),
        ("www.youtube.com", ".com", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
    ],
)
def test_a_site_takes_only_the_cookies_its_pattern_covers(pattern: str, domain: str, covered: bool) -> None:
    assert cookies.covers(pattern, domain) is covered


def test_a_browsers_whole_export_gives_each_site_its_own_cookies(tmp_path: Path) -> None:
    exported = write_cookies(
        tmp_path / "all.txt", cookie_line(".nicovideo.jp", "nico"), cookie_line(".youtube.com", "yt")
    )
    jars = CookieJars({"*.nicovideo.jp": exported, "www.youtube.com": exported})
    assert [c.name for c in jars.for_website("www.nicovideo.jp")] == ["nico"]
    assert [c.name for c in jars.for_website("www.youtube.com")] == ["yt"]
    assert jars.for_website("m.youtube.com") == ()  # the pattern names www.youtube.com alone
    assert jars.for_website("127.0.0.1") == ()
    assert jars.sites["*.nicovideo.jp"].ignored == 1


def test_expiry_within_a_week_is_a_problem_and_a_changed_file_is_read_again(tmp_path: Path) -> None:
    now = time.time()
    path = write_cookies(
        tmp_path / "c.txt",
        cookie_line(".nicovideo.jp", "long", expires=int(now + 90 * 86400)),
        cookie_line(".nicovideo.jp", "soon", expires=int(now + 3 * 86400)),
    )
    jars = CookieJars({"*.nicovideo.jp": path})
    site = jars.sites["*.nicovideo.jp"]
    day = time.strftime("%Y-%m-%d", time.gmtime(now + 3 * 86400))
    assert (
        site.expiry_problem(now)
        == f"site *.nicovideo.jp: cookies in {path} expire on {day}: export them again"
    )
    assert "expired on" in str(site.expiry_problem(now + 4 * 86400))
    assert 2.9 * 86400 < jars.seconds_to_expiry("*.nicovideo.jp") <= 3 * 86400

    write_cookies(path, cookie_line(".nicovideo.jp", "renewed", expires=int(now + 30 * 86400)))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert jars.reload() == []
    assert [c.name for c in jars.for_website("www.nicovideo.jp")] == ["renewed"]
    assert jars.sites["*.nicovideo.jp"].expiry_problem(now) is None

    path.write_text("garbage")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    [problem] = jars.reload()
    assert problem.startswith("site *.nicovideo.jp: ") and problem.endswith(
        "its previous cookies stay in use"
    )
    assert [c.name for c in jars.for_website("www.nicovideo.jp")] == ["renewed"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "ERROR: [generic] m: Unable to download webpage: HTTP Error 401: Unauthorized",
            "HTTP 401 Unauthorized",
        ),
        ("ERROR: [niconico] sm9: Premium members only", "members only"),
        ("ERROR: [niconico] sm9: Sensitive content, login required", "login required"),
        ("ERROR: [youtube] x: Join this channel to get access to members-only content", "members only"),
        (
            "ERROR: [youtube] x: Sign in to confirm your age. This video may be inappropriate",
            "login required",
        ),
        (
            "ERROR: [niconico] x: This video is only available for registered users. "
            "Use --cookies-from-browser or --cookies for the authentication.",
            "login required",
        ),
        ("ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found", None),
    ],
)
def test_login_signs(error: str, reason: str | None) -> None:
    assert login_reason(error) == reason


# Settings: a file that cannot be used stops `serve` at start, one line naming the setting.


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("", "cannot read"),  # a directory: unreadable as a file
        ("garbage " + SECRET, "not a Netscape cookies.txt"),
        (HEADER + cookie_line(".youtube.com"), "holds no cookie for *.nicovideo.jp"),
    ],
    ids=["missing", "unreadable", "not-netscape", "other-site"],
)
def test_a_cookies_file_that_cannot_be_used_is_a_bad_setting(
    content: str | None, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "cookies.txt"
    if content == "":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError) as refused:
        from_overrides({"sites": {"cookies": {"*.nicovideo.jp": str(path)}}})
    message = str(refused.value)
    assert message.startswith('SCHEDULER_SITES__COOKIES: "*.nicovideo.jp": ')
    assert problem in message
    assert "\n" not in message and SECRET not in message


# The whole service.


def members_settings(
    database_url: str, redis_url: str, tmp_path: Path, cookie_file: Path | None, **sections: dict[str, Any]
) -> Settings:
    """The content site (127.0.0.1) with its cookies, and a second allowed host (127.0.0.2)."""
    sites: dict[str, Any] = {"allowed": [*ALLOWED_SITES, "127.0.0.2"]}
    if cookie_file is not None:
        sites["cookies"] = {"127.0.0.1": str(cookie_file)}
    downloader = {"attempts": 2, "retry_base_s": 0.1}
    return pipeline_settings(
        database_url, redis_url, tmp_path, sites=sites, downloader=downloader, **sections
    )


def everything_written(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


async def test_a_login_only_video_is_delivered_with_the_cookies_which_reach_no_other_host(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # yt-dlp's own lines too
    cookie_file = write_cookies(tmp_path / "cookies.txt", cookie_line("127.0.0.1"))
    cookie_file.chmod(0o444)  # as a mounted secret is
    written = (cookie_file.read_bytes(), cookie_file.stat().st_mtime_ns)
    with content_site("127.0.0.2") as other:
        site.add_video("members", size=60_000)
        site.require_cookie("members", f"session={SECRET}")
        other.add_video("elsewhere", size=40_000)
        site.add_video("hop")
        site.redirect("hop", other.video("elsewhere").url)  # to another allowed site
        feed = site.feed("feed", ["members", "hop"])
        settings = members_settings(database_url, redis_url, tmp_path / "data", cookie_file)
        async with serving(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)
            events = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=100))).events
        other.wait_idle()

    [members] = settings.video_service.directory.glob("*/members/video.mp4")
    assert members.read_bytes() == site.video_bytes("members")
    # The site got its cookie with every request, the listing's too; the other host never.
    assert {r.headers.get("cookie") for r in site.requests} == {f"session={SECRET}"}
    assert other.requests and all("cookie" not in r.headers for r in other.requests)
    # The file is as it was: nothing saved back.
    assert (cookie_file.read_bytes(), cookie_file.stat().st_mtime_ns) == written
    # No value in what was delivered (the info JSON yt-dlp wrote carried it), logged or told.
    assert SECRET not in everything_written(settings.video_service.directory)
    assert not [r.getMessage() for r in caplog.records if SECRET in r.getMessage()]
    assert not [e.message for e in events if SECRET in e.message]


async def test_without_cookies_a_login_only_video_fails_naming_the_setting_and_no_breaker_opens(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("members")
    site.require_cookie("members", f"session={SECRET}")
    site.add_video("public")
    feed = site.feed("feed", ["members", "public"])
    settings = members_settings(database_url, redis_url, tmp_path, None)
    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status IN ('done', 'failed')", 2)
        events = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=100))).events
        sites = (await api("ListSites", pb.ListSitesRequest())).sites

    assert await db.value("SELECT status::text FROM videos WHERE foreign_id = 'members'") == "failed"
    assert await db.value("SELECT attempts FROM videos WHERE foreign_id = 'members'") == 2
    error = await db.value("SELECT last_error FROM videos WHERE foreign_id = 'members'")
    assert error.startswith("HTTP 401 Unauthorized (set SCHEDULER_SITES__COOKIES for 127.0.0.1): ")
    assert any(e.message == f"failed after 2 attempts: {error}" for e in events)
    assert all(s.breaker == pb.CLOSED for s in sites)
    assert await db.value("SELECT count(*) FROM site_breakers WHERE state <> 'closed'") == 0


async def test_cookies_about_to_expire_are_told_by_an_event_a_metric_and_scheduler_sites(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    expires = int(time.time()) + 3 * 86400
    cookie_file = write_cookies(tmp_path / "cookies.txt", cookie_line("127.0.0.1", expires=expires))
    port = free_port()
    settings = members_settings(
        database_url, redis_url, tmp_path / "data", cookie_file, metrics={"port": port}
    )
    day = time.strftime("%Y-%m-%d", time.gmtime(expires))
    told = f"site 127.0.0.1: cookies in {cookie_file} expire on {day}: export them again"

    for _ in range(2):  # a restart within the day tells it once
        async with serving(settings) as (_, api):
            sites = (await api("ListSites", pb.ListSitesRequest())).sites
            metrics = await scrape(port)

    [own] = [s for s in sites if s.site == "127.0.0.1"]
    assert (own.cookies_file, list(own.cookie_domains), own.cookies_problem) == (
        str(cookie_file),
        ["127.0.0.1"],
        told,
    )
    assert own.cookies_expire_at.startswith(day)
    assert f"! {told}" in describe(pb.ListSitesResponse(sites=sites)).splitlines()
    remaining = metrics[("scheduler_site_cookies_expiry_seconds", (("site", "127.0.0.1"),))]
    assert 2.9 * 86400 < remaining <= 3 * 86400
    assert await db.value("SELECT count(*) FROM archival_events WHERE message = $1", told) == 1
