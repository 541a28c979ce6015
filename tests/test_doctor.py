"""`scheduler doctor` (this machine, as a subprocess) and the Diagnose RPC (a running
service): what the service needs, found by the same detection yt-dlp uses; each problem
one line saying what to do; exit code 0 only when nothing is wrong."""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from pathlib import Path

import pytest
import trio

from scheduler.programs import release_age_days, release_date
from scheduler.serve.doctor import RELEASE_AGE_WARNING_DAYS, ytdlp_finding
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.support import clean_environment, free_port, scheduler_command, scrape
from tests.test_cookies import SECRET, cookie_line, write_cookies
from tests.test_pipeline import pipeline_settings, serving

# Names that resolve without a network (the tests' machines have no DNS beyond /etc/hosts).
RESOLVABLE = ["localhost", "127.0.0.1"]


@pytest.mark.parametrize(
    ("version", "released"),
    [
        ("2026.10.26", date(2026, 10, 26)),
        ("2026.10.26.1", date(2026, 10, 26)),  # a hotfix
        ("2026.11.02.232925", date(2026, 11, 2)),  # a nightly
        ("1.2.3", None),
        ("2026.13.40", None),
    ],
)
def test_a_yt_dlp_versions_release_day(version: str, released: date | None) -> None:
    assert release_date(version) == released


def test_a_yt_dlp_older_than_60_days_is_a_problem_that_says_to_update() -> None:
    today = date(2026, 12, 3)
    fresh = ytdlp_finding("2026.10.26", today)
    assert (fresh.ok, fresh.detail) == (True, "2026.10.26, released 38 days ago")
    stale = ytdlp_finding("2026.09.01", today)
    assert not stale.ok and RELEASE_AGE_WARNING_DAYS == 60
    assert stale.line() == (
        "PROBLEM  yt-dlp: 2026.09.01, released 93 days ago (sites change and old versions break); "
        "update it: rebuild the image, or pip install -U 'yt-dlp[default,deno]' (docs/operations.md)"
    )
    assert release_age_days("2026.09.01", today) == 93


async def doctor(*args: str, **env: str) -> tuple[int, str, str]:
    done = await trio.run_process(
        scheduler_command("doctor", *args),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=clean_environment(**env),
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_a_fresh_install_has_a_javascript_runtime_and_ffmpeg(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    code, out, err = await doctor(
        SCHEDULER_DATA_DIR=str(tmp_path),
        SCHEDULER_DATABASE__URL=database_url,
        SCHEDULER_REDIS__URLS=json.dumps([redis_url]),
        SCHEDULER_SITES__ALLOWED=json.dumps(RESOLVABLE),
    )
    assert (code, err) == (0, ""), out
    lines = out.splitlines()
    assert lines[:3] == [
        f"ok       yt-dlp: {lines[0].split(': ', 1)[1]}",
        f"ok       javascript runtime: {lines[1].split(': ', 1)[1]}",
        f"ok       ffmpeg: {lines[2].split(': ', 1)[1]}",
    ]
    assert lines[1].startswith("ok       javascript runtime: deno 2.") and "solver scripts 0." in lines[1]
    assert lines[2].startswith("ok       ffmpeg: ffmpeg ")
    assert lines[3:] == [
        "ok       postgresql: answers",
        f"ok       redis {redis_url}: answers",
        f"ok       video service directory {tmp_path / 'media'}: answers",
        "ok       site localhost: resolves",
        "nothing is wrong",
    ]


async def test_each_problem_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    cookie_file = write_cookies(
        tmp_path / "cookies.txt", cookie_line(".example.org", expires=int(time.time()) + 2 * 86400)
    )
    code, out, _ = await doctor(
        "--json",
        SCHEDULER_DATA_DIR=str(tmp_path),
        SCHEDULER_DATABASE__URL=f"postgresql://postgres@127.0.0.1:{closed}/postgres",
        SCHEDULER_REDIS__URLS=json.dumps([f"redis://127.0.0.1:{closed}/0"]),
        SCHEDULER_SITES__ALLOWED=json.dumps(["localhost", "no-such-host.invalid"]),
        SCHEDULER_SITES__COOKIES=json.dumps({"*.example.org": str(cookie_file)}).replace(":", " ="),
        SCHEDULER_DOWNLOADER__JS_RUNTIME='""',
    )
    assert code == 1
    report = json.loads(out)
    assert report.get("healthy", False) is False
    problems = {f["check"]: f for f in report["findings"] if not f.get("ok")}
    assert sorted(problems) == sorted(
        [
            "javascript runtime",
            "cookies *.example.org",
            "postgresql",
            f"redis redis://127.0.0.1:{closed}/0",
            "site no-such-host.invalid",
        ]
    )
    assert problems["javascript runtime"]["detail"] == "none configured"
    assert "SCHEDULER_DOWNLOADER__JS_RUNTIME" in problems["javascript runtime"]["fix"]
    assert problems["cookies *.example.org"]["detail"].endswith("(within 7 days)")
    assert problems["cookies *.example.org"]["fix"].startswith("export them again")
    assert "SCHEDULER_DATABASE__URL" in problems["postgresql"]["fix"]
    assert problems["site no-such-host.invalid"]["detail"].startswith("does not resolve")
    assert SECRET not in out


async def test_the_running_service_diagnoses_itself_warns_at_start_and_reports_yt_dlps_age(
    database_url: str, redis_url: str, tmp_path: Path, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        sites={"allowed": [*RESOLVABLE, "no-such-host.invalid"]},
        metrics={"port": port},
    )
    async with serving(settings) as (_, api):
        response = await api("Diagnose", pb.DiagnoseRequest())
        metrics = await scrape(port)
        # The start's own checks run beside the service (a yt-dlp worker tells the programs).
        with trio.fail_after(10):
            while not any("no-such-host.invalid" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await trio.sleep(0.05)

    findings = {f.check: f for f in response.findings}
    assert not response.healthy
    assert [c for c, f in findings.items() if not f.ok] == ["site no-such-host.invalid"]
    assert findings["postgresql"].detail == "answers"  # the service's own pool
    assert findings["javascript runtime"].detail.startswith("deno 2.")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(w.startswith("PROBLEM  site no-such-host.invalid: does not resolve") for w in warnings)
    assert metrics[("scheduler_ytdlp_release_age_days", ())] == release_age_days()
