"""The programs yt-dlp runs, as the service configures them: the deno that ships with the
package solves YouTube's JavaScript challenges offline and may open no connection, and an
ffmpeg is found with nothing installed on the host. yt-dlp's own detection is asked, not a
mock of it."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from yt_dlp.extractor.youtube.jsc.provider import JsChallengeRequest, JsChallengeType, NChallengeInput
from yt_dlp.postprocessor.ffmpeg import FFmpegMergerPP

from scheduler import programs
from scheduler.pipeline.ytdlp.options import common_options
from scheduler.pipeline.ytdlp.overrides import GuardedYoutubeDL
from scheduler.settings import DownloaderSettings, SettingsError, from_overrides
from tests.test_netguard import serving

ALLOWED = ("127.0.0.1",)

# A player shaped as YouTube's is where the challenge solver looks (one function wrapping
# the player's code; a URL class whose first own method transforms "n" and "s"; a
# function that makes such a URL and calls one of its methods with "alr", "yes"). Its
# transform reverses "n", so a solved challenge is the challenge reversed.
PLAYER = """var _yt_player={};(function(g){var window=this;
function Uq(a){this.p={}}
Uq.prototype.tr=function(){var n=this.p.n;if(n)this.p.n=n.split("").reverse().join("")};
Uq.prototype.set=function(k,v){this.p[k]=v};
Uq.prototype.get=function(k){return this.p[k]};
function Wq(a,b,c){var d=new Uq(a);d.set("alr","yes");if(c)d.set(b,c);return d}
})(_yt_player);
"""
PLAYER_PATH = "/s/player/0123abcd/player_ias.vflset/en_US/base.js"


def configured(settings: DownloaderSettings, **params: object) -> GuardedYoutubeDL:
    return GuardedYoutubeDL(common_options(settings) | params, ALLOWED)


def debug_lines(settings: DownloaderSettings, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What `yt-dlp -v` prints about its environment (at its start), for the service's options."""
    with caplog.at_level(logging.DEBUG, "scheduler.pipeline.ytdlp"), configured(settings, verbose=True):
        pass
    return [r.getMessage().removeprefix("yt-dlp: [debug] ") for r in caplog.records]


def test_yt_dlp_finds_the_bundled_javascript_runtime_and_ffmpeg(caplog: pytest.LogCaptureFixture) -> None:
    settings = from_overrides({}).downloader
    lines = debug_lines(settings, caplog)
    deno = programs.js_runtime("auto")
    assert deno is not None and Path(deno).is_file()
    [runtimes] = [line for line in lines if line.startswith("JS runtimes:")]
    assert runtimes.startswith("JS runtimes: deno-2.")
    assert "(unsupported)" not in runtimes
    [exe_versions] = [line for line in lines if line.startswith("exe versions:")]
    assert "ffmpeg " in exe_versions
    assert any(line.startswith("Optional libraries:") and "yt_dlp_ejs-" in line for line in lines)


def test_an_empty_js_runtime_setting_turns_the_runtime_off(caplog: pytest.LogCaptureFixture) -> None:
    settings = from_overrides({"downloader": {"js_runtime": ""}}).downloader
    assert "JS runtimes: none (disabled)" in debug_lines(settings, caplog)


def test_the_challenge_solver_runs_offline_with_the_bundled_runtime() -> None:
    with serving("127.0.0.1") as site, configured(from_overrides({}).downloader) as ydl:
        player_url = site.page(PLAYER_PATH, "text/javascript", PLAYER)
        youtube = ydl.get_info_extractor("Youtube")
        youtube.initialize()
        providers = youtube._jsc_director.providers
        assert [name for name, p in providers.items() if p.is_available()] == ["Deno"]
        deno = providers["Deno"]
        # The solver's scripts come from the yt-dlp-ejs package, never from npm or GitHub.
        assert (deno._lib_script.source.value, deno._core_script.source.value) == ("python package",) * 2
        request = JsChallengeRequest(JsChallengeType.N, NChallengeInput(player_url, ["abc123"]), "v")
        [(_, response)] = list(youtube._jsc_director.bulk_solve([request]))
        assert response.output.results == {"abc123": "321cba"}
        assert site.requests == [PLAYER_PATH]  # the player, fetched by yt-dlp's checked handler


def test_the_javascript_runtime_may_open_no_connection() -> None:
    """The runtime runs the player's code, which YouTube writes: deno starts it as yt-dlp
    starts the solver (no permission flags, so no network, files, environment or programs)."""
    with serving("127.0.0.1") as target, configured(from_overrides({}).downloader) as ydl:
        youtube = ydl.get_info_extractor("Youtube")
        youtube.initialize()
        deno = youtube._jsc_director.providers["Deno"]
        deno._lib_script  # noqa: B018 (loads the solver's scripts: yt-dlp picks its flags by them)
        script = f"""
            const tries = {{}};
            for (const [name, attempt] of Object.entries({{
                fetch: () => fetch("{target.base}/stolen"),
                connect: () => Deno.connect({{hostname: "127.0.0.1", port: {target.server_address[1]}}}),
                read: () => Deno.readTextFile("/etc/hostname"),
                env: async () => Deno.env.get("HOME"),
                run: () => new Deno.Command("true").output(),
            }})) {{
                try {{ await attempt(); tries[name] = "allowed"; }}
                catch (e) {{ tries[name] = e.name; }}
            }}
            console.log(JSON.stringify(tries));
        """
        output = deno._run_js_runtime(script)
    assert output.strip() == (
        '{"fetch":"NotCapable","connect":"NotCapable","read":"NotCapable","env":"NotCapable","run":"NotCapable"}'
    )
    assert target.requests == []


def test_ffmpeg_is_the_one_on_path_else_the_bundled_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own = tmp_path / "ffmpeg"
    own.write_text("#!/bin/sh\n")
    own.chmod(own.stat().st_mode | stat.S_IEXEC)
    programs.ffmpeg.cache_clear()
    try:
        monkeypatch.setenv("PATH", str(tmp_path))
        assert programs.ffmpeg("auto") == str(own)
        programs.ffmpeg.cache_clear()
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        bundled = programs.ffmpeg("auto")
        assert bundled is not None and "imageio_ffmpeg" in bundled
        assert os.access(bundled, os.X_OK)
        with configured(from_overrides({"downloader": {"ffmpeg": bundled}}).downloader) as ydl:
            merger = FFmpegMergerPP(ydl)
            assert merger.available and merger.can_merge()
            assert merger.executable == bundled
    finally:
        programs.ffmpeg.cache_clear()


@pytest.mark.parametrize("name", ["js_runtime", "ffmpeg"])
def test_a_program_setting_must_name_an_executable_file(name: str, tmp_path: Path) -> None:
    variable = f"SCHEDULER_DOWNLOADER__{name.upper()}"
    with pytest.raises(SettingsError, match=f"^{variable}: must be .* the path of an executable file"):
        from_overrides({"downloader": {name: str(tmp_path / "missing")}})
    (tmp_path / "plain").write_text("")
    with pytest.raises(SettingsError, match=f"^{variable}: "):
        from_overrides({"downloader": {name: str(tmp_path / "plain")}})
    with pytest.raises(SettingsError, match=r'^SCHEDULER_DOWNLOADER__FFMPEG: must be "auto" or the path'):
        from_overrides({"downloader": {"ffmpeg": ""}})
