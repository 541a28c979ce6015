"""scheduler.settings: shipped defaults, a settings file, SCHEDULER_* variables, and the
one-line SettingsError an operator sees for a bad value. Pure: no network, no database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scheduler.categories import from_url
from scheduler.settings import SettingsError, defaults, from_overrides, load, open_to_anyone, parse

DEFAULT_ALLOWED = (
    "nicovideo.jp",
    "*.nicovideo.jp",
    "nico.ms",
    "youtube.com",
    "*.youtube.com",
    "youtu.be",
    "bilibili.com",
    "*.bilibili.com",
    "b23.tv",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dynaconf reads os.environ (and may look around the working directory)."""
    for name in list(os.environ):
        if name.startswith("SCHEDULER_") or name.endswith("_FOR_DYNACONF"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def settings_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load()
    message = str(raised.value)
    assert "\n" not in message
    return message


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def with_overrides(**overrides: Any) -> dict[str, Any]:
    """defaults() with `overrides` on top, tables merged one level deep, as load() does."""
    merged = defaults()
    for key, value in overrides.items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


# Defaults


def test_defaults_load_without_any_configuration() -> None:
    settings = load()

    assert settings.data_dir == Path("./scheduler-data")
    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 7777)
    assert settings.database.url == ""
    assert settings.database.migrate_on_start is True
    assert (settings.database.pool_min_size, settings.database.pool_max_size) == (1, 10)
    assert settings.database.statement_timeout_s == 30.0
    assert settings.redis.urls == ()
    assert settings.approval.required is False
    assert settings.schedule.listen is True


def test_default_allowed_sites_are_niconico_youtube_and_bilibili() -> None:
    allowed = load().sites.allowed
    assert set(DEFAULT_ALLOWED) <= set(allowed)
    # Beyond the sites themselves, only their media and image servers.
    assert {p for p in allowed if p not in DEFAULT_ALLOWED} == {
        "*.nimg.jp",
        "*.dmc.nico",
        "*.domand.nicovideo.jp",
        "*.googlevideo.com",
        "*.ytimg.com",
        "*.ggpht.com",
        "*.bilivideo.com",
        "*.bilivideo.cn",
        "*.hdslb.com",
    }


def test_parse_of_the_shipped_defaults_equals_load() -> None:
    assert parse(defaults()) == load()


def test_from_overrides_merges_tables_onto_the_defaults() -> None:
    settings = from_overrides({"grpc": {"port": 1}, "sites": {"allowed": ["example.com"]}})

    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 1)
    assert settings.sites.allowed == ("example.com",)


# Environment variables


def test_env_port_is_read_as_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_GRPC__PORT", "7000")

    settings = load()

    assert settings.grpc.port == 7000
    assert settings.grpc.host == "127.0.0.1"


def test_env_redis_urls_list_becomes_a_tuple(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_REDIS__URLS", '["redis://127.0.0.1:6379/0"]')

    assert load().redis.urls == ("redis://127.0.0.1:6379/0",)


def test_env_empty_redis_urls_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_REDIS__URLS", "")

    assert load().redis.urls == ()


def test_env_allowed_sites_replace_the_default_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_SITES__ALLOWED", '["example.com", "*.Example.org"]')

    assert load().sites.allowed == ("example.com", "*.example.org")


def test_env_boolean_number_and_string_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_APPROVAL__REQUIRED", "true")
    monkeypatch.setenv("SCHEDULER_DATABASE__STATEMENT_TIMEOUT_S", "0.5")
    monkeypatch.setenv("SCHEDULER_SCHEDULE__LISTEN", "false")
    monkeypatch.setenv("SCHEDULER_DATABASE__URL", "postgresql://u@db/scheduler")

    settings = load()

    assert settings.approval.required is True
    assert settings.schedule.listen is False
    assert settings.database.statement_timeout_s == 0.5
    assert settings.database.url == "postgresql://u@db/scheduler"


# Settings file


def test_settings_file_table_with_only_port_keeps_the_default_host(tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", "[grpc]\nport = 7001\n")

    settings = load(config_file=path)

    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 7001)
    assert settings.database.pool_max_size == 10


def test_settings_file_list_replaces_the_default_list(tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", '[sites]\nallowed = ["example.com"]\n')

    assert load(config_file=path).sites.allowed == ("example.com",)


def test_settings_file_named_by_env_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", '[grpc]\nport = 7002\n[redis]\nurls = ["redis://r:6379/0"]\n')
    monkeypatch.setenv("SCHEDULER_SETTINGS_FILE", path)

    settings = load()

    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 7002)
    assert settings.redis.urls == ("redis://r:6379/0",)


def test_env_variable_overrides_the_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", '[grpc]\nport = 7002\nhost = "127.0.0.1"\n')
    monkeypatch.setenv("SCHEDULER_GRPC__PORT", "7100")

    settings = load(config_file=path)

    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 7100)


def test_config_file_argument_wins_over_settings_file_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCHEDULER_SETTINGS_FILE", write(tmp_path / "env.toml", "[grpc]\nport = 1\n"))

    assert load(config_file=write(tmp_path / "arg.toml", "[grpc]\nport = 2\n")).grpc.port == 2


def test_missing_settings_file_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    message = settings_error(monkeypatch, SCHEDULER_SETTINGS_FILE=str(tmp_path / "nope.toml"))

    assert message.startswith("SCHEDULER_SETTINGS_FILE: no such file")
    assert "nope.toml" in message


def test_missing_config_file_argument_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_SETTINGS_FILE: no such file"):
        load(config_file=str(tmp_path / "nope.toml"))


def test_a_directory_is_not_a_settings_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_SETTINGS_FILE: no such file"):
        load(config_file=str(tmp_path))


def test_unknown_key_in_a_settings_file_is_named_as_its_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", "[grpc]\nprot = 7001\n")

    with pytest.raises(SettingsError, match=r"^SCHEDULER_GRPC__PROT: unknown setting$"):
        load(config_file=path)


def test_malformed_settings_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.toml", '[grpc\nport = 1\nx = """\n')

    with pytest.raises(
        SettingsError, match=r"^SCHEDULER_SETTINGS_FILE: cannot read .*scheduler\.toml: "
    ) as raised:
        load(config_file=path)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["scheduler.conf", "scheduler.yaml", "scheduler.json", "scheduler"])
def test_settings_file_that_is_not_toml_is_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "[grpc]\nport = 7001\n")

    with pytest.raises(SettingsError, match=r"^SCHEDULER_SETTINGS_FILE: must be a TOML file \(\.toml\)"):
        load(config_file=path)


@pytest.mark.parametrize("value", ["@int abc", "@json {"])
def test_bad_dynaconf_token_in_a_variable_names_that_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    message = settings_error(monkeypatch, SCHEDULER_GRPC__PORT=value)

    assert message.startswith("SCHEDULER_GRPC__PORT: ")


# Bad values: one line, starting with the variable


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCHEDULER_GRPC__PORT", "abc"),
        ("SCHEDULER_GRPC__PORT", "70000"),
        ("SCHEDULER_GRPC__PORT", "-1"),
        ("SCHEDULER_GRPC__PORT", "7000.5"),
        ("SCHEDULER_GRPC__PORT", "true"),
        ("SCHEDULER_GRPC__HOST", ""),
        ("SCHEDULER_APPROVAL__REQUIRED", "yes"),
        ("SCHEDULER_APPROVAL__REQUIRED", '"true"'),
        ("SCHEDULER_APPROVAL__REQUIRED", "1"),
        ("SCHEDULER_DATABASE__MIGRATE_ON_START", "no"),
        ("SCHEDULER_SCHEDULE__LISTEN", "off"),
        ("SCHEDULER_SYNC__PAGE_ENTRIES", "-1"),
        ("SCHEDULER_SYNC__PAGE_ENTRIES", "ten"),
        ("SCHEDULER_DATABASE__URL", "mysql://x"),
        ("SCHEDULER_DATABASE__POOL_MAX_SIZE", "0"),
        ("SCHEDULER_DATABASE__STATEMENT_TIMEOUT_S", "0"),
        ("SCHEDULER_DATABASE__STATEMENT_TIMEOUT_S", "nan"),
        ("SCHEDULER_DATABASE__STATEMENT_TIMEOUT_S", "inf"),
        ("SCHEDULER_DATA_DIR", ""),
        ("SCHEDULER_DATA_DIR", "   "),
        ("SCHEDULER_REDIS__URLS", "redis://127.0.0.1:6379/0"),
        ("SCHEDULER_REDIS__URLS", '["http://127.0.0.1:6379/0"]'),
        ("SCHEDULER_REDIS__URLS", '["redis://a:6379/0", "redis://a:6379/0"]'),
        ("SCHEDULER_REDIS__URLS", "[1]"),
        ("SCHEDULER_SITES__ALLOWED", "example.com"),
        ("SCHEDULER_SITES__ALLOWED", '["bad host"]'),
        ("SCHEDULER_SITES__ALLOWED", '["*.[::1]"]'),
        ("SCHEDULER_SITES__ALLOWED", '["ex_ample.com"]'),
        ("SCHEDULER_SITES__ALLOWED", '["*"]'),
        ("SCHEDULER_SITES__ALLOWED", '["*."]'),
        ("SCHEDULER_SITES__ALLOWED", '[""]'),
        ("SCHEDULER_SITES__ALLOWED", '["a..b"]'),
        ("SCHEDULER_SITES__ALLOWED", '["https://example.com"]'),
    ],
)
def test_bad_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = settings_error(monkeypatch, **{variable: value})

    assert message.startswith(f"{variable}: ")


def test_bad_port_message_says_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_GRPC__PORT="70000")

    assert message == "SCHEDULER_GRPC__PORT: must be an integer from 0 to 65535, got 70000"


def test_misspelt_key_is_an_unknown_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_GRPC__PROT="7000")

    assert message == "SCHEDULER_GRPC__PROT: unknown setting"


def test_unknown_top_level_key_is_an_unknown_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_error(monkeypatch, SCHEDULER_FOO="1") == "SCHEDULER_FOO: unknown setting"


def test_a_table_given_a_plain_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_GRPC="1")

    assert message == "SCHEDULER_GRPC: must be a table of settings"


def test_mysql_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_DATABASE__URL="mysql://x")

    assert message.startswith("SCHEDULER_DATABASE__URL: must be a postgresql:// URL")


def test_redis_url_of_another_scheme_is_named_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_REDIS__URLS='["redis://a/0", "http://b/0"]')

    assert message.startswith("SCHEDULER_REDIS__URLS: every URL must start with redis://")
    assert message.endswith("got 'http://b/0'")


def test_duplicated_redis_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_REDIS__URLS='["redis://a/0", "redis://a/0"]')

    assert message.startswith("SCHEDULER_REDIS__URLS: lists a server twice")


def test_invalid_allowed_site_entry_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_SITES__ALLOWED='["youtube.com", "bad host"]')

    assert message == (
        'SCHEDULER_SITES__ALLOWED: every entry must be a host name, an IP address or "*.domain", '
        "got 'bad host'"
    )


def test_pool_min_size_above_pool_max_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, SCHEDULER_DATABASE__POOL_MIN_SIZE="20")

    assert (
        message == "SCHEDULER_DATABASE__POOL_MIN_SIZE: must not exceed SCHEDULER_DATABASE__POOL_MAX_SIZE (10)"
    )


def test_pool_min_size_equal_to_max_size_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_DATABASE__POOL_MIN_SIZE", "10")

    assert load().database.pool_min_size == 10


# parse() on a mapping


def test_parse_accepts_merged_overrides() -> None:
    settings = parse(
        with_overrides(
            data_dir="/var/lib/scheduler",
            grpc={"port": 0},
            redis={"urls": ["rediss://r:6380/1", "unix:///run/redis.sock"]},
            sites={"allowed": ["127.0.0.1", "::1", "*.example.com"]},
        )
    )

    assert settings.data_dir == Path("/var/lib/scheduler")
    assert (settings.grpc.host, settings.grpc.port) == ("127.0.0.1", 0)
    assert settings.redis.urls == ("rediss://r:6380/1", "unix:///run/redis.sock")
    assert settings.sites.allowed == ("127.0.0.1", "::1", "*.example.com")


def test_parse_takes_an_integer_timeout_as_a_float() -> None:
    timeout = parse(with_overrides(database={"statement_timeout_s": 5})).database.statement_timeout_s

    assert timeout == 5.0
    assert isinstance(timeout, float)


def test_parse_refuses_a_boolean_port() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_GRPC__PORT: must be an integer"):
        parse(with_overrides(grpc={"port": True}))


def test_parse_refuses_an_unknown_nested_key() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_DATABASE__PASSWORD: unknown setting$"):
        parse(with_overrides(database={"password": "x"}))


def test_parse_refuses_zero_statement_timeout() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_DATABASE__STATEMENT_TIMEOUT_S: "):
        parse(with_overrides(database={"statement_timeout_s": 0}))


def test_parse_refuses_empty_data_dir() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_DATA_DIR: must not be empty"):
        parse(with_overrides(data_dir=""))


def test_parse_refuses_a_wildcard_over_an_ip_address() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_SITES__ALLOWED: .*got '\*\.1\.2\.3\.4'$"):
        parse(with_overrides(sites={"allowed": ["*.1.2.3.4"]}))


def test_parse_refuses_pool_min_size_above_max_size() -> None:
    with pytest.raises(SettingsError, match=r"^SCHEDULER_DATABASE__POOL_MIN_SIZE: must not exceed"):
        parse(with_overrides(database={"pool_min_size": 5, "pool_max_size": 4}))


def test_allowed_sites_are_canonicalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_SITES__ALLOWED", '[" Example.COM ", "[::1]", "0:0::0001", "*.YouTube.com"]')

    assert load().sites.allowed == ("example.com", "::1", "::1", "*.youtube.com")


def test_a_bracketed_ipv6_entry_allows_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_SITES__ALLOWED", '["[::1]"]')

    assert from_url("http://[::1]/", load().sites.allowed).website == "::1"


def test_an_idn_entry_allows_its_host_or_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_SITES__ALLOWED", '["例え.jp"]')
    try:
        allowed = load().sites.allowed
    except SettingsError:
        return
    assert from_url("https://例え.jp/", allowed).website == "xn--r8jz45g.jp"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SCHEDULER_VIDEO_SERVICE__KIND": "ftp"}, "SCHEDULER_VIDEO_SERVICE__KIND: must be one of"),
        (
            {"SCHEDULER_VIDEO_SERVICE__KIND": "horahora"},
            "SCHEDULER_VIDEO_SERVICE__ADDRESS: must be host:port",
        ),
        (
            {"SCHEDULER_VIDEO_SERVICE__KIND": "http", "SCHEDULER_VIDEO_SERVICE__URL": "ftp://x"},
            "SCHEDULER_VIDEO_SERVICE__URL: must be an http(s) URL",
        ),
        ({"SCHEDULER_DOWNLOADER__PROXY": "gopher://x"}, "SCHEDULER_DOWNLOADER__PROXY: must be an http://"),
        ({"SCHEDULER_DOWNLOADER__WORKERS": "-1"}, "SCHEDULER_DOWNLOADER__WORKERS: must be an integer"),
        ({"SCHEDULER_SCHEDULE__LEASE_S": "0"}, "SCHEDULER_SCHEDULE__LEASE_S: must be a number of at least 1"),
        (
            {"SCHEDULER_DOWNLOADER__FORMAT_SORT": '["", "res"]'},
            "SCHEDULER_DOWNLOADER__FORMAT_SORT: must be a list",
        ),
        (
            {"SCHEDULER_VIDEO_SERVICE__LAYOUT": "flat"},
            "SCHEDULER_VIDEO_SERVICE__LAYOUT: must be one of id, library, got 'flat'",
        ),
        (
            {"SCHEDULER_VIDEO_SERVICE__LAYOUT": "Library"},
            "SCHEDULER_VIDEO_SERVICE__LAYOUT: must be one of id, library, got 'Library'",
        ),
        (
            {"SCHEDULER_VIDEO_SERVICE__LAYOUT": "1"},
            "SCHEDULER_VIDEO_SERVICE__LAYOUT: must be one of id, library",
        ),
    ],
    ids=[
        "kind",
        "horahora-address",
        "http-url",
        "proxy",
        "workers",
        "lease",
        "format-sort",
        "layout",
        "layout-case",
        "layout-number",
    ],
)
def test_pipeline_settings_are_checked_too(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load()

    assert str(caught.value).startswith(message), caught.value
    assert "\n" not in str(caught.value)


def test_the_directory_video_service_defaults_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_DATA_DIR", "/srv/archive")

    settings = load()

    assert settings.video_service.kind == "directory"
    assert settings.video_service.directory == Path("/srv/archive/media")
    assert settings.video_service.layout == "id"


def test_the_library_layout_is_chosen_by_its_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCHEDULER_VIDEO_SERVICE__LAYOUT", "library")
    assert load().video_service.layout == "library"

    monkeypatch.delenv("SCHEDULER_VIDEO_SERVICE__LAYOUT")
    config = write(tmp_path / "settings.toml", '[video_service]\nlayout = "library"\n')
    assert load(config).video_service.layout == "library"


# Who may reach the API


@pytest.mark.parametrize(
    ("grpc", "warned"),
    [
        ({}, False),  # the default: this host only
        ({"host": "::1"}, False),
        ({"host": "localhost"}, False),
        ({"host": "0.0.0.0"}, True),
        ({"host": "192.0.2.7"}, True),
        ({"host": "scheduler.internal"}, True),  # a name may stand for any address
        ({"host": "0.0.0.0", "tokens": ["s3cret-token-0123456789"]}, False),
    ],
)
def test_an_api_open_to_anyone_is_warned_of(grpc: dict[str, Any], warned: bool) -> None:
    warning = open_to_anyone(from_overrides({"grpc": grpc}).grpc)

    assert (warning is not None) == warned
    if warning:
        assert "SCHEDULER_GRPC__TOKENS" in warning and "SCHEDULER_GRPC__TLS_CLIENT_CA" in warning
        assert "s3cret" not in warning


def test_mutual_tls_is_enough_to_listen_beyond_this_host(tmp_path: Path) -> None:
    pem = [write(tmp_path / name, "-") for name in ("cert.pem", "key.pem", "ca.pem")]
    grpc = {"host": "0.0.0.0", "tls_cert": pem[0], "tls_key": pem[1]}

    assert open_to_anyone(from_overrides({"grpc": grpc}).grpc) is not None  # TLS, but anyone may speak it
    assert open_to_anyone(from_overrides({"grpc": grpc | {"tls_client_ca": pem[2]}}).grpc) is None


def test_the_client_commands_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_TARGET", "127.0.0.1:7791")
    monkeypatch.setenv("SCHEDULER_TOKEN", "a-token-of-16-chars-or-more")

    assert load().grpc.port == 7777  # read by `scheduler <client command>`, ignored here
