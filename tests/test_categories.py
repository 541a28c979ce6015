"""scheduler.categories: a category's normalised URL, its website, and the host allow-list.
Pure: no network, no database."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scheduler.categories import CategoryTarget, Kind, Site, from_seed, from_url, host_allowed
from scheduler.errors import InvalidArgument
from scheduler.settings import defaults

ALLOWED: tuple[str, ...] = (*defaults()["sites"]["allowed"], "127.0.0.1")
NICO = "https://www.nicovideo.jp"


def url(raw: str, allowed: tuple[str, ...] = ALLOWED) -> str:
    return from_url(raw, allowed).url


def refusal(raw: str, allowed: tuple[str, ...] = ALLOWED) -> str:
    with pytest.raises(InvalidArgument) as raised:
        from_url(raw, allowed)
    return str(raised.value)


def seed(site: Site, kind: Kind, value: str) -> CategoryTarget:
    return from_seed(site, kind, value, ALLOWED)


def seed_refusal(site: Site, kind: Kind, value: str) -> str:
    with pytest.raises(InvalidArgument) as raised:
        seed(site, kind, value)
    return str(raised.value)


# from_url: normalisation


def test_url_target_has_kind_url_and_its_host_as_website() -> None:
    target = from_url(f"{NICO}/tag/YTPMV", ALLOWED)

    assert target == CategoryTarget(url=f"{NICO}/tag/YTPMV", website="www.nicovideo.jp", kind=Kind.URL)


def test_scheme_and_host_are_lower_cased() -> None:
    assert url("HTTPS://WWW.NicoVideo.JP/tag/YTPMV") == f"{NICO}/tag/YTPMV"


def test_path_case_is_kept() -> None:
    assert url(f"{NICO}/tag/YtPmV") == f"{NICO}/tag/YtPmV"


def test_default_port_is_dropped() -> None:
    assert url("https://www.nicovideo.jp:443/tag/x") == f"{NICO}/tag/x"
    assert url("http://www.nicovideo.jp:80/tag/x") == "http://www.nicovideo.jp/tag/x"


def test_non_default_port_is_kept() -> None:
    assert url("https://www.nicovideo.jp:8443/tag/x") == "https://www.nicovideo.jp:8443/tag/x"
    assert url("http://www.nicovideo.jp:443/tag/x") == "http://www.nicovideo.jp:443/tag/x"


def test_fragment_is_dropped() -> None:
    assert url(f"{NICO}/tag/x#top") == f"{NICO}/tag/x"


def test_trailing_slash_is_removed() -> None:
    assert url(f"{NICO}/tag/x/") == f"{NICO}/tag/x"
    assert url(f"{NICO}/tag/x///") == f"{NICO}/tag/x"


def test_empty_path_becomes_a_slash() -> None:
    assert url("https://www.nicovideo.jp") == f"{NICO}/"
    assert url(f"{NICO}/") == f"{NICO}/"


def test_trailing_dot_of_the_host_is_dropped() -> None:
    assert from_url("https://www.nicovideo.jp./tag/x", ALLOWED).website == "www.nicovideo.jp"


def test_surrounding_whitespace_is_ignored() -> None:
    assert url(f"  {NICO}/tag/x \n") == f"{NICO}/tag/x"


def test_percent_encoded_and_raw_unicode_path_are_the_same_url() -> None:
    encoded = url(f"{NICO}/tag/%E9%9F%B3")

    assert encoded == f"{NICO}/tag/%E9%9F%B3"
    assert url(f"{NICO}/tag/音") == encoded
    assert url(f"{NICO}/tag/%e9%9f%b3") == encoded


def test_unreserved_characters_are_not_percent_encoded() -> None:
    assert url(f"{NICO}/tag/%41%7E") == f"{NICO}/tag/A~"


def test_query_is_kept() -> None:
    assert url("https://www.youtube.com/watch?v=abc&list=x") == "https://www.youtube.com/watch?v=abc&list=x"


def test_idn_host_becomes_punycode() -> None:
    target = from_url("https://ドメイン.nicovideo.jp/", ALLOWED)

    assert target.url == "https://xn--eckwd4c7c.nicovideo.jp/"
    assert target.website == "xn--eckwd4c7c.nicovideo.jp"


def test_allowed_ip_address_keeps_its_port() -> None:
    target = from_url("http://127.0.0.1:8080/videos/", ALLOWED)

    assert (target.url, target.website) == ("http://127.0.0.1:8080/videos", "127.0.0.1")


def test_ipv6_host_is_bracketed_in_the_url_and_bare_as_website() -> None:
    target = from_url("http://[0:0::1]:8080/x", ("::1",))

    assert (target.url, target.website) == ("http://[::1]:8080/x", "::1")


def test_field_name_is_used_in_refusals() -> None:
    with pytest.raises(InvalidArgument, match=r"^source_url: must not be empty$") as raised:
        from_url("", ALLOWED, field="source_url")
    assert raised.value.field == "source_url"


# from_url: refusals


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (f"{NICO}/tag/a b", "must not contain spaces or control characters"),
        (f"{NICO}/tag/a\u3000b", "must not contain spaces or control characters"),
        (f"{NICO}/tag/a\x00b", "must not contain spaces or control characters"),
        (f"{NICO}/tag/a\x1bb", "must not contain spaces or control characters"),
        (f"{NICO}/tag/a\x7fb", "must not contain spaces or control characters"),
        (f"{NICO}/tag/" + "a" * 2048, "must be at most 2048 characters"),
        ("file:///etc/passwd", "scheme 'file' is not allowed; give an http:// or https:// URL"),
        ("ftp://www.nicovideo.jp/x", "scheme 'ftp' is not allowed; give an http:// or https:// URL"),
        ("javascript:alert(1)", "scheme 'javascript' is not allowed; give an http:// or https:// URL"),
        ("www.nicovideo.jp/tag/x", "a URL without a scheme is not allowed; give an http:// or https:// URL"),
        ("https://user:password@www.nicovideo.jp/", "must not contain a user name or password"),
        ("https://user@www.nicovideo.jp/", "must not contain a user name or password"),
        ("https:///tag/x", "must name a host"),
        ("https://www.nicovideo.jp:99999/", "is not a valid URL (Port out of range 0-65535)"),
        ("https://[::1/", "is not a valid URL (Invalid IPv6 URL)"),
        ("https://evil.com/", "host evil.com is not allowed"),
        ("https://EVIL.com/", "host evil.com is not allowed"),
        ("https://evilnicovideo.jp/", "host evilnicovideo.jp is not allowed"),
        ("https://nicovideo.jp.evil.com/", "host nicovideo.jp.evil.com is not allowed"),
        ("https://www_x.nicovideo.jp/", "host 'www_x.nicovideo.jp' is not a valid host name"),
    ],
)
def test_refused_url_says_why(raw: str, problem: str) -> None:
    assert refusal(raw) == f"url: {problem}"


def test_url_of_exactly_2048_characters_is_accepted() -> None:
    raw = f"{NICO}/tag/" + "a" * (2048 - len(f"{NICO}/tag/"))

    assert url(raw) == raw


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://127.0.0.2/", "127.0.0.2"),
        ("http://[::1]/", "::1"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://8.8.8.8/", "8.8.8.8"),
    ],
)
def test_ip_address_not_listed_exactly_is_refused(raw: str, host: str) -> None:
    assert refusal(raw) == f"url: host {host} is not allowed"


def test_ip_address_listed_exactly_is_allowed() -> None:
    assert url("http://169.254.169.254/x", ("169.254.169.254",)) == "http://169.254.169.254/x"
    assert url("http://[::1]/x", ("::1",)) == "http://[::1]/x"


def test_wildcard_allows_subdomains_but_not_lookalikes_or_the_domain_itself() -> None:
    allowed = ("*.nicovideo.jp",)

    assert url(f"{NICO}/x", allowed) == f"{NICO}/x"
    assert url("https://a.b.nicovideo.jp/x", allowed) == "https://a.b.nicovideo.jp/x"
    assert refusal("https://evilnicovideo.jp/", allowed) == "url: host evilnicovideo.jp is not allowed"
    assert refusal("https://nicovideo.jp/", allowed) == "url: host nicovideo.jp is not allowed"


def test_wildcard_never_matches_an_ip_address() -> None:
    assert refusal("http://127.0.0.1/", ("*.0.0.1",)) == "url: host 127.0.0.1 is not allowed"


# host_allowed


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("www.nicovideo.jp", ("*.nicovideo.jp",), True),
        ("nicovideo.jp", ("*.nicovideo.jp",), False),
        ("nicovideo.jp", ("nicovideo.jp",), True),
        ("www.nicovideo.jp", ("nicovideo.jp",), False),
        ("evilnicovideo.jp", ("*.nicovideo.jp",), False),
        ("nicovideo.jp.evil.com", ("*.nicovideo.jp",), False),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("127.0.0.1", ("*.0.0.1",), False),
        ("::1", ("::1",), True),
        ("10.0.0.1", ALLOWED, False),
        ("youtu.be", ALLOWED, True),
        ("anything.example", (), False),
    ],
)
def test_host_allowed(host: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


# from_seed


def test_niconico_tag_seed() -> None:
    target = seed(Site.NICONICO, Kind.TAG, "YTPMV")

    assert target == CategoryTarget(url=f"{NICO}/tag/YTPMV", website="www.nicovideo.jp", kind=Kind.TAG)


def test_niconico_tag_seed_is_percent_encoded() -> None:
    assert seed(Site.NICONICO, Kind.TAG, "音MAD").url == f"{NICO}/tag/%E9%9F%B3MAD"
    assert seed(Site.NICONICO, Kind.TAG, "a b?").url == f"{NICO}/tag/a%20b%3F"


def test_niconico_tag_seed_and_its_url_are_the_same_category() -> None:
    assert seed(Site.NICONICO, Kind.TAG, "音").url == url(f"{NICO}/tag/音")


def test_seed_value_is_stripped() -> None:
    assert seed(Site.NICONICO, Kind.TAG, "  YTPMV\t").url == f"{NICO}/tag/YTPMV"


def test_niconico_channel_seed_is_the_users_video_list() -> None:
    target = seed(Site.NICONICO, Kind.CHANNEL, "123")

    assert (target.url, target.kind) == (f"{NICO}/user/123/video", Kind.CHANNEL)


def test_niconico_playlist_seed_is_a_mylist() -> None:
    assert seed(Site.NICONICO, Kind.PLAYLIST, "55").url == f"{NICO}/mylist/55"


@pytest.mark.parametrize("value", ["abc", "12a", "١٢٣", "-1"])
def test_niconico_channel_seed_must_be_digits(value: str) -> None:
    assert seed_refusal(Site.NICONICO, Kind.CHANNEL, value) == (
        "value: must be a Niconico user or mylist id (digits)"
    )


def test_youtube_handle_seed() -> None:
    target = seed(Site.YOUTUBE, Kind.CHANNEL, "@name")

    assert (target.url, target.website) == ("https://www.youtube.com/@name", "www.youtube.com")


def test_youtube_channel_id_seed() -> None:
    assert seed(Site.YOUTUBE, Kind.CHANNEL, "UCxxxx").url == "https://www.youtube.com/channel/UCxxxx"


def test_youtube_playlist_seed() -> None:
    target = seed(Site.YOUTUBE, Kind.PLAYLIST, "PLabc")

    assert (target.url, target.kind) == ("https://www.youtube.com/playlist?list=PLabc", Kind.PLAYLIST)


def test_youtube_tag_seed_is_a_hashtag_url_without_the_hash() -> None:
    assert seed(Site.YOUTUBE, Kind.TAG, "#vocaloid").url == "https://www.youtube.com/hashtag/vocaloid"
    assert seed(Site.YOUTUBE, Kind.TAG, "vocaloid").url == "https://www.youtube.com/hashtag/vocaloid"


def test_bilibili_tag_seed_is_refused_on_kind() -> None:
    message = seed_refusal(Site.BILIBILI, Kind.TAG, "vocaloid")

    assert message == "kind: Bilibili has no tag listing yt-dlp can read; give its URL"


def test_bilibili_channel_seed() -> None:
    target = seed(Site.BILIBILI, Kind.CHANNEL, "42")

    assert (target.url, target.website) == ("https://space.bilibili.com/42/video", "space.bilibili.com")


def test_bilibili_playlist_seed() -> None:
    assert seed(Site.BILIBILI, Kind.PLAYLIST, "42").url == "https://www.bilibili.com/medialist/detail/ml42"


def test_bilibili_channel_seed_must_be_digits() -> None:
    assert seed_refusal(Site.BILIBILI, Kind.CHANNEL, "x") == (
        "value: must be a Bilibili user or favourites-list id (digits)"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("  \t", "must not be empty"),
        ("a" * 201, "must be at most 200 characters"),
        ("a\x00b", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("a\x7fb", "must not contain control characters"),
    ],
)
def test_refused_seed_value_says_why(value: str, problem: str) -> None:
    assert seed_refusal(Site.NICONICO, Kind.TAG, value) == f"value: {problem}"


def test_seed_value_of_200_characters_is_accepted() -> None:
    assert seed(Site.NICONICO, Kind.TAG, "a" * 200).url == f"{NICO}/tag/" + "a" * 200


def test_seed_host_must_still_be_allowed() -> None:
    with pytest.raises(InvalidArgument, match=r"^site: host www\.nicovideo\.jp is not allowed$"):
        from_seed(Site.NICONICO, Kind.TAG, "YTPMV", ("youtube.com",))


def test_a_seed_value_too_long_once_encoded_names_the_value() -> None:
    with pytest.raises(InvalidArgument, match=r"^value: makes a URL longer than 2048 characters$"):
        from_seed(Site.NICONICO, Kind.TAG, "\N{MUSICAL NOTE}" * 200, ALLOWED)


def test_escaped_percent_in_query_survives_normalisation() -> None:
    once = url(f"{NICO}/search?q=%2541")

    assert once == f"{NICO}/search?q=%2541"
    assert url(once) == once


def test_escaped_reserved_characters_stay_escaped() -> None:
    assert url(f"{NICO}/tag/a%2Fb") == f"{NICO}/tag/a%2Fb"
    assert url(f"{NICO}/search?q=a%26b%3dc") == f"{NICO}/search?q=a%26b%3Dc"


def test_stray_percent_is_escaped() -> None:
    assert url(f"{NICO}/tag/100%") == f"{NICO}/tag/100%25"
    assert url(f"{NICO}/tag/%zz") == f"{NICO}/tag/%25zz"


def test_escape_of_invalid_utf8_is_kept() -> None:
    assert url(f"{NICO}/tag/%ff") == f"{NICO}/tag/%FF"


def test_youtube_playlist_seed_cannot_add_query_parameters() -> None:
    target = seed(Site.YOUTUBE, Kind.PLAYLIST, "PL1&index=5")

    assert target.url == "https://www.youtube.com/playlist?list=PL1%26index%3D5"


def test_niconico_tag_with_a_slash_stays_one_path_segment() -> None:
    assert seed(Site.NICONICO, Kind.TAG, "AC/DC").url == f"{NICO}/tag/AC%2FDC"
    assert seed(Site.NICONICO, Kind.TAG, "100%").url == f"{NICO}/tag/100%25"


@pytest.mark.parametrize("value", ["#", "###"])
def test_youtube_tag_of_only_hashes_is_refused(value: str) -> None:
    assert seed_refusal(Site.YOUTUBE, Kind.TAG, value) == "value: must name a hashtag"


# Property: from_url normalises idempotently or refuses with InvalidArgument


_URL_CHARS = st.sampled_from(
    [*"aZfF0149-._~:/?#[]@!$&'()*+,;=%", "%25", "%2F", "%2e", "%41", "%E9%9F%B3", "%ff", "音", "\x00"]
)
_url_like = st.builds(
    lambda scheme, host, port, rest: f"{scheme}://{host}{port}{rest}",
    st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    st.sampled_from(
        [*ALLOWED, "www.nicovideo.jp", "WWW.YouTube.com.", "[::1]", "evil.com", "ドメイン.nicovideo.jp"]
    ).map(lambda h: h.replace("*", "sub")),
    st.sampled_from(["", ":80", ":443", ":8080", ":", ":99999"]),
    st.lists(_URL_CHARS, max_size=30).map("".join),
)


@given(st.one_of(st.text(), _url_like))
@example(f"{NICO}/tag/%E9%9F%B3/")
@example("HTTPS://WWW.NICOVIDEO.JP:443/tag/YTPMV/#top")
@example("http://127.0.0.1:8080/%2F%2F")
@example(f"{NICO}/search?q=%2590")
@example(f"{NICO}/search?q=%%41%2")
def test_from_url_is_idempotent_or_refuses(raw: str) -> None:
    try:
        target = from_url(raw, ALLOWED)
    except InvalidArgument as error:
        assert str(error).startswith("url: ")
        return
    assert host_allowed(target.website, ALLOWED)
    again = from_url(target.url, ALLOWED)
    assert again.url == target.url
    assert again.website == target.website
