"""No engine runs containers here, so check what can be checked: the Containerfile
agrees with the package (console script, settings defaults) and runs as non-root."""

from __future__ import annotations

import json
import os
import re
import tomllib

import pytest

from scheduler.cli.main import build_parser, client_connection
from scheduler.settings import defaults
from tests.support import REPO

CONTAINERFILE = (REPO / "Containerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = CONTAINERFILE.replace("\\\n", " ")
    return [m[1].strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, flags=re.MULTILINE)]


def test_it_builds_in_one_stage_and_runs_from_a_slim_second() -> None:
    stages = instructions("FROM")
    assert len(stages) == 2
    assert stages[0].endswith(" AS build")
    assert "--from=build" in CONTAINERFILE


def test_the_entrypoint_is_the_console_script_serving_by_default() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    [entrypoint] = instructions("ENTRYPOINT")
    [command] = instructions("CMD")

    assert json.loads(entrypoint) == ["scheduler"]
    assert "scheduler" in scripts
    assert json.loads(command) == ["serve"]


def test_it_exposes_the_default_grpc_and_metrics_ports_and_runs_as_a_user() -> None:
    assert instructions("EXPOSE") == [f"{defaults()['grpc']['port']} {defaults()['metrics']['port']}"]
    [user] = instructions("USER")
    assert user not in ("root", "0")


def test_the_data_directory_is_a_volume_the_user_owns() -> None:
    [env] = instructions("ENV")
    data_dir = re.search(r"SCHEDULER_DATA_DIR=(\S+)", env)
    assert data_dir
    assert json.loads(instructions("VOLUME")[0]) == [data_dir[1]]
    assert f"install -d -o scheduler -g scheduler {data_dir[1]}" in CONTAINERFILE.replace("\\\n", " ")


def test_the_healthcheck_asks_the_health_command_at_the_served_port(monkeypatch: pytest.MonkeyPatch) -> None:
    [healthcheck] = instructions("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    arguments = build_parser().parse_args(command[1:])
    [env] = instructions("ENV")
    image_environment = dict(re.findall(r"(SCHEDULER_\w+)=(\S+)", env))

    assert command[0] == "scheduler"
    assert arguments.command == "health"
    assert image_environment["SCHEDULER_GRPC__HOST"] == "0.0.0.0"  # the pod's network
    port = image_environment["SCHEDULER_GRPC__PORT"]
    for name in [name for name in os.environ if name.startswith("SCHEDULER_")]:
        monkeypatch.delenv(name)  # the image's environment only
    for name, value in image_environment.items():
        monkeypatch.setenv(name, value)
    assert client_connection(arguments, image_environment).target == f"127.0.0.1:{port}"
    assert f"EXPOSE {port} " in CONTAINERFILE


def test_the_user_is_the_one_created_and_the_version_label_is_the_package_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    [user] = instructions("USER")

    assert f"useradd --system --uid {user} " in CONTAINERFILE
    assert f"ARG VERSION={version}" in CONTAINERFILE
    assert 'org.opencontainers.image.version="$VERSION"' in CONTAINERFILE


def test_the_image_takes_yt_dlp_and_its_programs_from_the_package() -> None:
    """No ffmpeg or JavaScript runtime from the distribution: the wheel brings both, and a
    newer yt-dlp given at build time keeps the extras that bring the runtime and its scripts."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    [yt_dlp] = [d for d in dependencies if d.startswith("yt-dlp[")]
    extras = yt_dlp.split("]")[0] + "]"
    assert extras == "yt-dlp[default,deno]"
    assert any(d.startswith("imageio-ffmpeg") for d in dependencies)
    assert f'"{extras}==$YT_DLP_VERSION"' in CONTAINERFILE
    assert "apt-get" not in CONTAINERFILE
