"""Hostile input: every RPC fuzzed with hypothesis, SQL injection, and edge cases that must pass.

Whatever a client sends, the answer is one of the statuses a client can act on (never
UNKNOWN, INTERNAL or UNAVAILABLE), a refused request writes nothing, and the database's
invariants hold afterwards.

Why hypothesis only *collects* requests here: every async test runs under Trio inside
trio-asyncio (see conftest), with function-scoped fixtures (a fresh database and a running
service per test). `@given` cannot wrap such a test, and a @given function cannot await
inside the running loop. So each test calls a nested *sync* @given function that only
appends the drawn requests to a list (`_draw`), then sends them one by one from the async
test. Hypothesis still chooses the examples (edge cases first, no `.example()`); what is
lost is shrinking, so a failure reports the exact request instead.
"""

from __future__ import annotations

import operator
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import asyncpg
import pytest
import trio_asyncio
from google.protobuf.message import DecodeError, Message
from grpclib import GRPCError, Status
from grpclib.const import Cardinality
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scheduler.categories import from_url
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import ALLOWED_SITES, Api, Database

EXPECTED_STATUSES = {
    Status.OK,
    Status.INVALID_ARGUMENT,
    Status.NOT_FOUND,
    Status.PERMISSION_DENIED,
    Status.UNAUTHENTICATED,
    Status.RESOURCE_EXHAUSTED,
}
EXAMPLES = 60  # per RPC, plus the explicit ~1 MB cases; 600 per RPC found nothing more (50 s)
MEGABYTE = 1_000_000
IN_FLIGHT = ("queued", "downloading", "uploading")
TABLES = (
    "categories",
    "subscriptions",
    "videos",
    "category_videos",
    "previous_downloads",
    "archival_events",
    "inference_categories",
)

# --- strategies -------------------------------------------------------------------------

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Small positives hit the rows `_seed` makes (categories 1-3, videos 1-8).
ids = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 8, INT64_MIN, INT64_MAX, INT64_MIN + 1, 2**31, 2**32 + 1]),
    st.integers(1, 12),
    st.integers(INT64_MIN, INT64_MAX),
)
int32s = st.one_of(
    st.sampled_from([0, -1, 1, 999, 1000, 1001, INT32_MIN, INT32_MAX]), st.integers(INT32_MIN, INT32_MAX)
)
# proto3 enums are open: any int32 goes on the wire.
enums = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 99, -1, INT32_MIN, INT32_MAX]), st.integers(INT32_MIN, INT32_MAX)
)

SNIPPETS = [
    "\x00",
    "\x01",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\xa0",
    "\u200b",
    "\u200f",
    "\u202e",
    "\u2066",
    "\u2028",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "\U0010ffff",
    "\U0001f3b5",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "e\u0301",
    " ",
    "\t",
    "\r\n",
    "'",
    '"',
    "\\",
    "%",
    "%00",
    "%2F",
    "%zz",
    "$1",
    "$$",
    "'; DROP TABLE videos; --",
    "../",
    "<script>",
    "${jndi:ldap://x}",
    "{}",
    "\u30cb\u30b3\u30cb\u30b3",
]
snippets = st.sampled_from(SNIPPETS)
texts = st.one_of(
    st.text(max_size=64),  # arbitrary unicode; hypothesis's text() never makes surrogates
    st.lists(snippets | st.text(max_size=4), max_size=12).map("".join),
    # Long strings by repetition: around each length limit, and far past it.
    st.builds(operator.mul, st.text(min_size=1, max_size=3), st.sampled_from([199, 200, 201, 2049, 70_000])),
)

ALLOWED_HOSTS = [
    "www.nicovideo.jp",
    "nicovideo.jp",
    "sp.nicovideo.jp",
    "nico.ms",
    "www.youtube.com",
    "m.youtube.com",
    "youtu.be",
    "space.bilibili.com",
    "b23.tv",
    "127.0.0.1",
    "WWW.NicoVideo.JP.",
    "xn--n8j.nicovideo.jp",
    "\u30cb\u30b3.nicovideo.jp",  # an IDN label under an allowed domain
    "www\u3002nicovideo\u3002jp",  # ideographic full stops
]
DISALLOWED_HOSTS = [
    "evil.example",
    "evilnicovideo.jp",
    "nicovideo.jp.evil.example",
    "169.254.169.254",
    "[fd00:ec2::254]",
    "10.0.0.1",
    "127.0.0.2",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "metadata.google.internal",
    "\u30cb\u30b3\u30cb\u30b3.jp",
    "xn--80ak6aa92e.com",
    "www.nicovideo.jp@evil.example",
    "user:pw@www.nicovideo.jp",
    "evil.example#@www.nicovideo.jp",
    "www.nicovideo.jp\\@evil.example",
    "[www.nicovideo.jp]",
    "%77ww.nicovideo.jp",
    "www.nicovideo.jp%2F.evil.example",
    "a..nicovideo.jp",
    "-_-.nicovideo.jp",
    "x" * 64 + ".nicovideo.jp",
    "",
]
SCHEMES = ["http", "https", "HTTPS", "hTtP", "file", "ftp", "javascript", "data", "gopher", "ws", ""]
PORTS = ["", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":-1", ":abc", ":"]
RAW_URLS = [
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https:www.nicovideo.jp/tag/x",
    "//www.nicovideo.jp/tag/x",
    "https://",
    "http://[",
    "http://]/",
    "https://www.nicovideo.jp:99999999999999999999/",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " https://www.nicovideo.jp/tag/x ",
    "https://www.nicovideo.jp/tag/x\u202e",
    "https://www.nicovideo.jp/%",
    "https://www.nicovideo.jp/%zz%2f%7e?%",
    "https://www.nicovideo.jp/" + "%ff" * 10,
    "https://www.nicovideo.jp//evil.example/x",
]
path_parts = st.lists(snippets | st.text(max_size=6), max_size=8).map("/".join)
urls = st.one_of(
    st.builds(
        "{}://{}{}/{}{}{}".format,
        st.sampled_from(SCHEMES),
        st.sampled_from(ALLOWED_HOSTS) | st.sampled_from(DISALLOWED_HOSTS),
        st.sampled_from(PORTS),
        path_parts,
        st.just("") | path_parts.map("?".__add__),
        st.just("") | st.text(max_size=8).map("#".__add__),
    ),
    st.sampled_from(RAW_URLS),
    texts,
)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


# Well-formed fields no request message declares (numbers from 16 up): a server must ignore them.
unknown_fields = st.one_of(
    st.builds(
        lambda number, value: _varint(number << 3) + _varint(value),
        st.integers(16, 2**29 - 1),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(
        lambda number, blob: _varint(number << 3 | 2) + _varint(len(blob)) + blob,
        st.integers(16, 2**29 - 1),
        st.binary(max_size=32),
    ),
    st.builds(
        lambda number, blob: _varint(number << 3 | 5) + blob,
        st.integers(16, 999),
        st.binary(min_size=4, max_size=4),
    ),
    st.builds(
        lambda number, blob: _varint(number << 3 | 1) + blob,
        st.integers(16, 999),
        st.binary(min_size=8, max_size=8),
    ),
)


def _with_unknown_fields(messages: st.SearchStrategy[Message]) -> st.SearchStrategy[Message]:
    def merge(message: Message, extra: list[bytes]) -> Message:
        message.MergeFromString(b"".join(extra))
        return message

    return st.builds(merge, messages, st.lists(unknown_fields, max_size=3))


schedule_requests = st.one_of(
    # The URL form.
    st.builds(
        pb.ScheduleCategoryRequest,
        url=urls,
        user_id=st.integers(1, 5) | ids,
        disable_download_cache=st.booleans(),
    ),
    # The seed form.
    st.builds(
        pb.ScheduleCategoryRequest,
        site=st.integers(0, 3) | enums,
        kind=st.integers(0, 3) | enums,
        value=texts,
        user_id=st.integers(1, 5) | ids,
        disable_download_cache=st.booleans(),
    ),
    # Anything at all.
    st.builds(
        pb.ScheduleCategoryRequest,
        url=urls,
        site=enums,
        kind=enums,
        value=texts,
        user_id=ids,
        disable_download_cache=st.booleans(),
    ),
)

REQUESTS: dict[str, st.SearchStrategy[Any]] = {
    "ScheduleCategory": schedule_requests,
    "ListCategories": st.builds(pb.ListCategoriesRequest, user_id=ids),
    "ListEvents": st.builds(pb.ListEventsRequest, category_id=ids, show_all=st.booleans(), limit=int32s),
    "Unsubscribe": st.builds(pb.UnsubscribeRequest, user_id=ids, category_id=ids),
    "RetryFailed": st.builds(pb.RetryFailedRequest, user_id=ids, category_id=ids),
    "ListDownloads": st.builds(pb.ListDownloadsRequest, limit=int32s),
    "ListUnapprovedVideos": st.builds(pb.ListUnapprovedVideosRequest, category_id=ids, limit=int32s),
    "ApproveVideo": st.builds(pb.ApproveVideoRequest, video_id=ids),
    "RejectVideo": st.builds(pb.RejectVideoRequest, video_id=ids),
    "ListInferenceCategories": st.builds(pb.ListInferenceCategoriesRequest),
    "AddInferenceCategory": st.builds(pb.AddInferenceCategoryRequest, tag=texts, category=texts),
    "CancelDownload": st.builds(pb.CancelDownloadRequest, video_id=ids, fail=st.booleans()),
}
READ_ONLY = {
    "ListCategories",
    "ListEvents",
    "ListDownloads",
    "ListUnapprovedVideos",
    "ListInferenceCategories",
}


def _megabyte_requests(method: str) -> list[Any]:
    """A few ~1 MB requests per RPC: in its text fields, or as an unknown field."""
    big = "\u202e\U0001f3b5'; DROP TABLE videos; --" * (MEGABYTE // 30)
    blob = _varint(99 << 3 | 2) + _varint(MEGABYTE) + b"\xff" * MEGABYTE
    if method == "ScheduleCategory":
        return [
            pb.ScheduleCategoryRequest(url="https://www.nicovideo.jp/tag/" + "a" * MEGABYTE, user_id=1),
            pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, value=big, user_id=1),
        ]
    if method == "AddInferenceCategory":
        return [
            pb.AddInferenceCategoryRequest(tag=big, category="music"),
            pb.AddInferenceCategoryRequest(tag="YTPMV", category=big),
        ]
    request = getattr(pb, f"{method}Request")()
    request.MergeFromString(blob)
    return [request]


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """Runs hypothesis synchronously and returns the examples it drew (see the docstring)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    collect()
    return drawn


# --- the database, through one connection per test ---------------------------------------


@dataclass
class Sql:
    """One asyncpg connection for a whole test: `db.counts()` opens a connection per table,
    too slow to run after each of hundreds of requests."""

    conn: asyncpg.Connection

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return list(await trio_asyncio.aio_as_trio(self.conn.fetch)(query, *args))

    async def value(self, query: str, *args: Any) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None

    async def state(self) -> dict[str, Any]:
        """Rows per table, and a digest of every column a request may change: a refused
        (or read-only) request must leave all of it as it was."""
        (row,) = await self.fetch(_STATE)
        return dict(row)


_STATE = "SELECT " + ", ".join(
    [f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES]
    + [
        f"(SELECT md5(coalesce(string_agg(concat_ws('|', {cols}), ',' ORDER BY {order}), ''))"
        f" FROM {table}) AS {table}_digest"
        for table, cols, order in [
            ("categories", "id, url, website, kind, subscriber_count, disable_download_cache", "id"),
            ("subscriptions", "user_id, category_id", "user_id, category_id"),
            ("videos", "id, status, approval, attempts, lease_owner, cancel_request", "id"),
            ("inference_categories", "id, tag, category", "id"),
        ]
    ]
)


@asynccontextmanager
async def connected(db: Database) -> AsyncIterator[Sql]:
    conn = await trio_asyncio.aio_as_trio(asyncpg.connect)(db.url)
    try:
        yield Sql(conn)
    finally:
        await trio_asyncio.aio_as_trio(conn.close)()


INVARIANTS = {
    "subscriber_count equals its subscriptions": """
        SELECT c.id, c.subscriber_count, count(s.user_id) AS subscriptions
        FROM categories c LEFT JOIN subscriptions s ON s.category_id = c.id
        GROUP BY c.id HAVING c.subscriber_count <> count(s.user_id)""",
    "a video in flight has a lease owner, one at rest none": """
        SELECT id, status, lease_owner FROM videos
        WHERE (status IN ('queued', 'downloading', 'uploading')) <> (lease_owner IS NOT NULL)
           OR (lease_owner IS NULL) <> (lease_expires_at IS NULL)""",
    "a cancel request only on a video in flight": """
        SELECT id, status, cancel_request FROM videos
        WHERE cancel_request IS NOT NULL AND status NOT IN ('queued', 'downloading', 'uploading')""",
    "no category with an empty url or website": """
        SELECT id, url, website FROM categories WHERE coalesce(url, '') = '' OR coalesce(website, '') = ''""",
    "every subscription's user_id is positive": """
        SELECT user_id, category_id FROM subscriptions WHERE user_id <= 0""",
    "events reference existing categories and videos": """
        SELECT e.id, e.category_id, e.video_id FROM archival_events e
        WHERE (e.category_id IS NOT NULL AND NOT EXISTS (SELECT FROM categories c WHERE c.id = e.category_id))
           OR (e.video_id IS NOT NULL AND NOT EXISTS (SELECT FROM videos v WHERE v.id = e.video_id))""",
    "category_videos reference existing rows": """
        SELECT cv.category_id, cv.video_id FROM category_videos cv
        WHERE NOT EXISTS (SELECT FROM categories c WHERE c.id = cv.category_id)
           OR NOT EXISTS (SELECT FROM videos v WHERE v.id = cv.video_id)""",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def check_invariants(sql: Sql) -> None:
    broken = {name: rows for name, query in INVARIANTS.items() if (rows := await sql.fetch(query))}
    assert not broken, broken
    tables = {r["tablename"] for r in await sql.fetch("SELECT tablename FROM pg_tables")}
    assert set(TABLES) <= tables, set(TABLES) - tables
    # Only allowed, normalised URLs: each one normalises to itself, under its website.
    allowed = tuple(ALLOWED_SITES)
    for row in await sql.fetch("SELECT id, url, website FROM categories"):
        target = from_url(row["url"], allowed)
        assert (target.url, target.website) == (row["url"], row["website"]), dict(row)
        assert len(row["url"]) <= 2048, row["id"]
    for row in await sql.fetch("SELECT id, tag, category FROM inference_categories"):
        for text in (row["tag"], row["category"]):
            assert text == text.strip() and 0 < len(text) <= 200 and not _CONTROL.search(text), dict(row)


# --- the service ----------------------------------------------------------------------------


async def call(api: Api, method: str, request: Any) -> tuple[Status, str, Any]:
    try:
        return Status.OK, "", await api(method, request)
    except GRPCError as error:
        return error.status, error.message or "", None


def shown(request: Any) -> str:
    text = repr(request) if isinstance(request, bytes) else f"{type(request).__name__}({request!r})"
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} characters)"


# db.add_video's way (a video in flight holds a lease), for all of them in one statement.
_ADD_VIDEOS = """
WITH given AS (
    SELECT status::video_status AS status, approval::approval_state AS approval, n,
           status IN ('queued', 'downloading', 'uploading') AS in_flight
    FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS g(status, approval, n)
), added AS (
    INSERT INTO videos (website, foreign_id, url, title, status, approval, lease_owner, lease_expires_at)
    SELECT '127.0.0.1', 'sm' || n, 'http://127.0.0.1/sm' || n || '.mp4', 'title of sm' || n, status,
           approval, CASE WHEN in_flight THEN 'test-instance' END,
           CASE WHEN in_flight THEN now() + interval '1 hour' END
    FROM given ORDER BY n
    RETURNING id
)
INSERT INTO category_videos (category_id, video_id, position) SELECT $1, id, id FROM added
"""


async def seed(api: Api, db: Database) -> dict[str, int]:
    """Rows for the fuzzed ids to hit: categories 1-3 with subscribers, videos 1-8 in every state."""
    ytpmv = await api(
        "ScheduleCategory", pb.ScheduleCategoryRequest(url="https://www.nicovideo.jp/tag/YTPMV", user_id=1)
    )
    await api(
        "ScheduleCategory", pb.ScheduleCategoryRequest(url="https://www.nicovideo.jp/tag/YTPMV", user_id=2)
    )
    await api(
        "ScheduleCategory",
        pb.ScheduleCategoryRequest(site=pb.YOUTUBE, kind=pb.CHANNEL, value="@someone", user_id=2),
    )
    await api("ScheduleCategory", pb.ScheduleCategoryRequest(url="http://127.0.0.1/feed.xml", user_id=3))
    states = [
        ("pending", "unreviewed"),
        ("queued", "unreviewed"),
        ("downloading", "approved"),
        ("uploading", "approved"),
        ("done", "approved"),
        ("failed", "unreviewed"),
        ("pending", "approved"),
        ("pending", "rejected"),
    ]
    await db.value(_ADD_VIDEOS, ytpmv.category_id, [s for s, _ in states], [a for _, a in states])
    await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="YTPMV", category="music"))
    await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="MMD", category="animation"))
    return {"category": ytpmv.category_id, "videos": len(states)}


# --- 1 and 2: every RPC fuzzed; statuses, no writes when refused, invariants -----------------


@pytest.mark.parametrize("method", sorted(REQUESTS))
async def test_fuzzed_requests_get_an_expected_status_and_keep_the_invariants(
    api: Api, db: Database, method: str
) -> None:

    await seed(api, db)
    requests = [*_draw(_with_unknown_fields(REQUESTS[method]), EXAMPLES), *_megabyte_requests(method)]
    problems: list[str] = []
    rules: dict[int, tuple[str, str]] = {}

    async with connected(db) as sql:
        rules.update(
            {
                r["id"]: (r["tag"], r["category"])
                for r in await sql.fetch("SELECT * FROM inference_categories")
            }
        )
        before = await sql.state()
        for request in requests:
            status, message, response = await call(api, method, request)
            after = await sql.state()
            where = f"{method} {shown(request)} -> {status.name} {message!r}"
            if status not in EXPECTED_STATUSES:
                problems.append(f"unexpected status: {where}")
            elif status is not Status.OK:
                fields = {f.name for f in request.DESCRIPTOR.fields} | {"request"}
                if message.partition(":")[0] not in fields:
                    problems.append(f"the message names no field of the request: {where}")
                if after != before:
                    problems.append(f"a refused request wrote: {where}")
            elif method in READ_ONLY and after != before:
                problems.append(f"a read-only request wrote: {where}")
            elif method == "ScheduleCategory":
                problems += await check_scheduled(api, sql, request, response, after)
                after = await sql.state()
            elif method == "AddInferenceCategory":
                # A new rule keeps the tag as given (trimmed); an existing one keeps its spelling.
                rule = response.inference_category
                if rule.category != request.category.strip() or (
                    response.created and rule.tag != request.tag.strip()
                ):
                    problems.append(f"the rule came back changed: {where}: {rule!r}")
                rules[rule.id] = (rule.tag, rule.category)
            before = after

        await check_invariants(sql)
        if method == "AddInferenceCategory":
            # Every rule that came back is listed exactly as it came back (by id).
            listed = await api("ListInferenceCategories", pb.ListInferenceCategoriesRequest())
            assert {r.id: (r.tag, r.category) for r in listed.inference_categories} == rules

    assert not problems, "\n".join(problems[:20])


async def check_scheduled(
    api: Api, sql: Sql, request: pb.ScheduleCategoryRequest, response: Any, state: dict[str, Any]
) -> list[str]:
    """An accepted category is stored under the URL returned, and that URL is a fixed point:
    scheduling it again is the same category, and writes nothing."""
    problems = []
    stored = await sql.value("SELECT url FROM categories WHERE id = $1", response.category_id)
    if stored != response.url:
        problems.append(f"stored {stored!r}, answered {response.url!r} for {shown(request)}")
    again = pb.ScheduleCategoryRequest(
        url=response.url, user_id=request.user_id, disable_download_cache=request.disable_download_cache
    )
    status, message, second = await call(api, "ScheduleCategory", again)
    if status is not Status.OK:
        problems.append(f"the normalised URL is refused: {shown(again)} -> {status.name} {message!r}")
    elif (second.category_id, second.url, second.created, second.subscribed) != (
        response.category_id,
        response.url,
        False,
        False,
    ):
        problems.append(f"the normalised URL is another category: {shown(again)} -> {second!r}")
    elif await sql.state() != state:
        problems.append(f"scheduling a category again wrote: {shown(again)}")
    return problems


async def test_watch_downloads_opens_and_closes(api: Api, db: Database) -> None:
    """The one streaming RPC: opened (with unknown fields in its empty request), read, cancelled."""
    await seed(api, db)
    in_flight = sorted(
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM videos WHERE status IN ('queued', 'downloading', 'uploading')"
        )
    )
    request = pb.WatchDownloadsRequest()
    request.MergeFromString(_varint(99 << 3 | 2) + _varint(3) + b"\xff\x00'")

    async def watch_once() -> list[int]:
        async with api.stub.WatchDownloads.open(timeout=10) as stream:
            await stream.send_message(request, end=True)
            first = [(await stream.recv_message()).video_id for _ in in_flight]  # type: ignore[union-attr]
            await stream.cancel()
        return first

    for _ in range(3):
        assert sorted(await trio_asyncio.aio_as_trio(watch_once)()) == in_flight
    # The service lives on.
    listed = await api("ListDownloads", pb.ListDownloadsRequest())
    assert sorted(d.video_id for d in listed.downloads) == in_flight
    async with connected(db) as sql:
        await check_invariants(sql)


# --- bodies that are not a valid request message ----------------------------------------------


class RawBody:
    """A "message" whose serialisation is given bytes: grpclib's codec calls only this."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def SerializeToString(self) -> bytes:
        return self.body


async def send_raw(api: Api, method: str, body: bytes | None) -> tuple[Status, str]:
    """Sends `body` as the request message of `method`; None: ends the stream without one
    (grpclib's client checks cardinality only on its own side, so say STREAM_UNARY)."""
    reply_type = pb.Download if method == "WatchDownloads" else getattr(pb, f"{method}Response")
    cardinality = Cardinality.STREAM_UNARY if body is None else Cardinality.UNARY_UNARY

    async def send() -> tuple[Status, str]:
        channel = api.stub.ScheduleCategory.channel
        try:
            async with channel.request(
                f"/scheduler.v1.Scheduler/{method}", cardinality, RawBody, reply_type, timeout=10
            ) as stream:
                if body is None:
                    await stream.send_request(end=True)
                else:
                    await stream.send_message(RawBody(body), end=True)
                await stream.recv_message()
                await stream.recv_trailing_metadata()
        except GRPCError as error:
            return error.status, error.message or ""
        return Status.OK, ""

    result: tuple[Status, str] = await trio_asyncio.aio_as_trio(send)()
    return result


def parses(method: str, body: bytes | None) -> bool:
    try:
        getattr(pb, f"{method}Request").FromString(body or b"")
    except DecodeError:
        return False
    return body is not None


MALFORMED_BODIES: dict[str, tuple[str, bytes | None]] = {
    # Strings that are not UTF-8 (an overlong "/", an encoded surrogate): clients in other
    # languages can send them.
    "url-not-utf8": ("ScheduleCategory", b"\x0a\x02\xc0\xaf\x10\x01"),
    "tag-surrogate": ("AddInferenceCategory", b"\x0a\x03\xed\xa0\x80\x12\x05music"),
    "truncated-varint": ("ListCategories", b"\x08\xff\xff"),
    "length-past-the-end": ("ScheduleCategory", b"\x0a\x05ab"),
    "field-number-zero": ("ListDownloads", b"\x00\x01"),
    "end-group-alone": ("ListInferenceCategories", b"\x0c"),
    "no-message": ("ApproveVideo", None),
    "watch-not-a-message": ("WatchDownloads", b"\x0c"),
}


async def test_a_malformed_request_body_is_invalid_argument(api: Api, db: Database) -> None:
    """Bodies that are no request message, named ones and random bytes to every RPC.

    KNOWN SERVER BUG, left failing on purpose: today every unparseable body (and a stream
    with no message) is answered UNKNOWN "Internal Server Error". grpclib decodes the
    message inside `stream.recv_message()`, which scheduler.api.errors.unary calls outside
    `status_mapping`, so protobuf's DecodeError (and `assert request is not None` when no
    message came) escape to grpclib, which answers UNKNOWN.
    """
    await seed(api, db)
    random_bodies = _draw(st.tuples(st.sampled_from(sorted(REQUESTS)), st.binary(max_size=64)), 40)
    cases = [*MALFORMED_BODIES.values(), *random_bodies]
    wrong = []
    async with connected(db) as sql:
        before = await sql.state()
        for method, body in cases:
            status, message = await send_raw(api, method, body)
            after = await sql.state()
            where = f"{method} {body!r} -> {status.name} {message!r}"
            if not parses(method, body) and status is not Status.INVALID_ARGUMENT:
                wrong.append(f"not a {method}Request, not INVALID_ARGUMENT: {where}")
            elif status not in EXPECTED_STATUSES:
                wrong.append(f"unexpected status: {where}")
            elif status is not Status.OK and after != before:
                wrong.append(f"a refused request wrote: {where}")
            before = after
        await check_invariants(sql)
    assert (await api("ListDownloads", pb.ListDownloadsRequest())).downloads  # still serving
    assert not wrong, "\n".join(wrong[:20])


# --- 3: SQL injection through every text field -----------------------------------------------

PAYLOADS = [
    "'; DROP TABLE videos; --",
    "' OR '1'='1",
    "\\'; DROP TABLE categories; --",
    "$1); DROP TABLE category_videos; --",
    "E'\\x00'; DROP TABLE previous_downloads; --",
    '"; DROP TABLE "archival_events"; --',
    "$$; DROP TABLE inference_categories; $$",
    "1; SELECT pg_sleep(5); --",
    "U&'\\0027'; DROP TABLE videos; --",
]


async def test_sql_injection_through_every_text_field_is_just_text(api: Api, db: Database) -> None:
    seeded = await seed(api, db)
    async with connected(db) as sql:
        rows_before = await sql.state()
    scheduled: dict[int, str] = {}  # category id -> the payload its URL holds
    for payload in PAYLOADS:
        escaped = quote(payload, safe="")
        for request in [
            pb.ScheduleCategoryRequest(url=f"https://www.nicovideo.jp/tag/{escaped}", user_id=7),
            pb.ScheduleCategoryRequest(url=f"https://www.youtube.com/playlist?list={escaped}", user_id=7),
            pb.ScheduleCategoryRequest(
                url=f"https://www.nicovideo.jp/search/x?q={escaped}&sort=f", user_id=7
            ),
            pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, value=payload, user_id=7),
            pb.ScheduleCategoryRequest(site=pb.YOUTUBE, kind=pb.PLAYLIST, value=payload, user_id=7),
            pb.ScheduleCategoryRequest(site=pb.YOUTUBE, kind=pb.CHANNEL, value="@" + payload, user_id=7),
        ]:
            response = await api("ScheduleCategory", request)
            assert payload in unquote(response.url), (payload, response.url)
            scheduled[response.category_id] = response.url
        # Unescaped, the payload is refused (it holds a space), and nothing else happens.
        raw = pb.ScheduleCategoryRequest(url=f"https://www.nicovideo.jp/tag/{payload}", user_id=7)
        assert (await api.error("ScheduleCategory", raw)).status is Status.INVALID_ARGUMENT
        # A niconico user id must be digits: the payload is refused as a value.
        seed_id = pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.CHANNEL, value=payload, user_id=7)
        assert (await api.error("ScheduleCategory", seed_id)).status is Status.INVALID_ARGUMENT

        added = await api(
            "AddInferenceCategory", pb.AddInferenceCategoryRequest(tag=payload, category=payload)
        )
        assert (added.inference_category.tag, added.inference_category.category) == (payload, payload)

    async with connected(db) as sql:
        await check_invariants(sql)  # every table still exists
        after = await sql.state()
        assert after["videos"] == rows_before["videos"] == seeded["videos"]
        assert after["subscriptions"] == rows_before["subscriptions"] + len(scheduled)

    listed = await api("ListCategories", pb.ListCategoriesRequest(user_id=7))
    assert {c.id: c.url for c in listed.categories} == scheduled
    rules = await api("ListInferenceCategories", pb.ListInferenceCategoriesRequest())
    by_tag = {r.tag.encode(): r.category.encode() for r in rules.inference_categories}
    for payload in PAYLOADS:
        assert by_tag[payload.encode()] == payload.encode()  # byte-identical
    events = await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=1000))
    messages = {e.message for e in events.events}
    for url in scheduled.values():
        assert f"category created: {url}" in messages


# --- 4: hostile but valid ----------------------------------------------------------------------


async def test_a_200_character_tag_with_rtl_marks_and_emoji_round_trips(api: Api, db: Database) -> None:
    unit = (
        "\u202eYTPMV\u200f\U0001f3b5\u2067\u30cb\u30b3\u2069\U0001f469\u200d\U0001f469\u200d\U0001f467e\u0301"
    )
    tag = (unit * 20)[:200]
    category = ("\u202b\u0645\u0648\u0633\u064a\u0642\u0649\u202c\U0001f3b6" * 30)[:200]
    assert len(tag) == len(category) == 200 and tag == tag.strip() and category == category.strip()

    added = await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag=tag, category=category))
    listed = await api("ListInferenceCategories", pb.ListInferenceCategoriesRequest())

    assert added.created
    assert (added.inference_category.tag, added.inference_category.category) == (tag, category)
    assert [(r.id, r.tag, r.category) for r in listed.inference_categories] == [
        (added.inference_category.id, tag, category)
    ]
    before = await db.counts()
    too_long = await api.error(
        "AddInferenceCategory", pb.AddInferenceCategoryRequest(tag=tag + "x", category="m")
    )
    assert (too_long.status, too_long.message) == (
        Status.INVALID_ARGUMENT,
        "tag: must be at most 200 characters",
    )
    assert await db.counts() == before

    # The same text as a seed value: its URL holds it percent-encoded, and lists back unchanged.
    value = "\u202eYTPMV\u200f\U0001f3b5"
    scheduled = await api(
        "ScheduleCategory", pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, value=value, user_id=1)
    )
    assert scheduled.url == "https://www.nicovideo.jp/tag/" + quote(value, safe="")
    assert unquote(scheduled.url).endswith(value)
    categories = await api("ListCategories", pb.ListCategoriesRequest(user_id=1))
    assert [(c.id, c.url) for c in categories.categories] == [(scheduled.category_id, scheduled.url)]


async def test_a_url_of_2048_characters_is_accepted_and_2049_refused(api: Api, db: Database) -> None:
    prefix = "https://www.nicovideo.jp/tag/"
    longest = prefix + "a" * (2048 - len(prefix))
    assert len(longest) == 2048

    accepted = await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=longest, user_id=1))
    assert (accepted.url, accepted.created) == (longest, True)

    before = await db.counts()
    for url in [
        longest + "a",
        # Short as given, but over the limit once normalised (each character becomes %XX%XX%XX).
        prefix + "\u3042" * 700,
    ]:
        error = await api.error("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=1))
        assert (error.status, error.message) == (
            Status.INVALID_ARGUMENT,
            "url: must be at most 2048 characters",
        )
    assert await db.counts() == before
    async with connected(db) as sql:
        await check_invariants(sql)
