"""The client commands that subscribe in bulk or change what a subscription takes:
`scheduler profile` (ListCategories, then UpdateCategory) and `scheduler import` (a file
read, then streamed to ImportSubscriptions)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from google.protobuf.message import Message

from scheduler.cli import profile_flags, render, subscription_files, transport
from scheduler.cli.transport import ClientError
from scheduler.v1 import scheduler_pb2 as pb

# An import's deadline grows with the file: each line costs the service a little.
IMPORT_S_PER_LINE = 0.01


def profile(connection: transport.Connection, args: argparse.Namespace) -> Message:
    """The category's profile (ListCategories), or UpdateCategory with it changed by the
    flags given (from the default with --reset)."""
    listed = transport.call(connection, "ListCategories", pb.ListCategoriesRequest(user_id=args.user))
    category = next((c for c in listed.categories if c.id == args.category), None)
    if category is None:
        raise ClientError(f"user {args.user} does not subscribe to category {args.category}")
    if not (args.reset or profile_flags.given(args)):
        return pb.ListCategoriesResponse(categories=[category])
    base = pb.DownloadProfile() if args.reset else category.profile
    request = pb.UpdateCategoryRequest(
        user_id=args.user, category_id=args.category, profile=profile_flags.apply(args, base)
    )
    response: Message = transport.call(connection, "UpdateCategory", request)
    return response


def import_file(connection: transport.Connection, args: argparse.Namespace) -> int:
    """Reads the file, sends its subscriptions (ImportSubscriptions), prints a line per
    subscription and the totals; exit 1 when any was refused."""
    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8-sig")
        entries = subscription_files.read(text)
    except (OSError, UnicodeDecodeError, subscription_files.UnreadableFile) as error:
        print(f"scheduler: {args.file}: {error}", file=sys.stderr)
        return 2
    lines = [
        pb.ImportLine(
            user_id=args.user,
            url=e.url,
            profile=e.profile,
            disable_download_cache=e.disable_download_cache,
            line=n,
        )
        for n, e in enumerate(entries, 1)
        if not e.problem
    ]
    # Each line costs the service a little: the deadline grows with the file.
    response = transport.send_all(
        connection, "ImportSubscriptions", lines, connection.timeout_s + IMPORT_S_PER_LINE * len(lines)
    )
    # The lines the file itself could not give join the answer, in the file's order.
    unread = [
        pb.ImportResult(line=n, url=e.url, outcome=pb.REFUSED, reason=e.problem)
        for n, e in enumerate(entries, 1)
        if e.problem
    ]
    results = sorted([*response.results, *unread], key=lambda r: r.line)
    del response.results[:]
    response.results.extend(results)
    response.refused += len(unread)
    if args.json:
        print(render.as_json(response))
    else:
        for result in response.results:
            print(f"{entries[result.line - 1].where}: {render.import_result(result)}")
        totals = (
            f"{response.created} created, {response.already_there} already there, {response.refused} refused"
        )
        print(f"imported: {totals}")
    return 1 if response.refused else 0


def kept_its_profile(args: argparse.Namespace, request: Any, response: Any) -> bool:
    """A profile was asked for a category that exists with another one (it keeps its own)."""
    return profile_flags.given(args) and not response.created and response.profile != request.profile
