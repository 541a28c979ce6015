"""The `scheduler` command.

Exit codes (docs/operations.md#exit-codes): 0 success; 1 the service refused or could
not be reached (one line on stderr); 2 a bad setting or bad command line (one line naming
it). `serve` and `migrate` add theirs for a start that fails (scheduler/startup.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import trio
import trio_asyncio

from scheduler import __version__, logs, startup
from scheduler.cli import profile_flags, render, subscribing, subscription_files, transport
from scheduler.cli.transport import ClientError
from scheduler.notify import sender
from scheduler.notify.digest import test_message
from scheduler.settings import TARGET_VARIABLE, TOKEN_VARIABLE, Settings, SettingsError, load
from scheduler.startup import Patience
from scheduler.v1 import scheduler_pb2 as pb

log = logging.getLogger("scheduler")

_SITES = {"niconico": pb.NICONICO, "youtube": pb.YOUTUBE, "bilibili": pb.BILIBILI}
_KINDS = {"tag": pb.TAG, "channel": pb.CHANNEL, "playlist": pb.PLAYLIST}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scheduler {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML); also SCHEDULER_SETTINGS_FILE")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service until SIGINT or SIGTERM")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    notify = commands.add_parser(
        "notify", help="`notify test`: send a test message to every notification URL"
    )
    notify.add_argument("action", choices=["test"])

    def client_command(name: str, help: str, json: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("--target", help=f"HOST:PORT of the service (default: ${TARGET_VARIABLE}, else "
                         "where the settings `serve` reads have it listen on this host)")  # fmt: skip
        sub.add_argument(
            "--token", help=f"bearer token (default: ${TOKEN_VARIABLE}, else the settings' first)"
        )
        sub.add_argument("--ca", type=Path, help="speak TLS, trusting this CA certificate (PEM)")
        sub.add_argument("--cert", type=Path, help="client certificate for mutual TLS (PEM)")
        sub.add_argument("--key", type=Path, help="the client certificate's key (PEM)")
        sub.add_argument("--timeout", type=float, default=transport.TIMEOUT_S,
                         help="seconds to wait for an answer, reaching the service included")  # fmt: skip
        if json:
            sub.add_argument("--json", action="store_true", help="print the response as JSON")
        return sub

    schedule = client_command("schedule", "subscribe a user to a category")
    schedule.add_argument("url", nargs="?", default="", help="the category's URL")
    schedule.add_argument("--user", type=int, required=True)
    schedule.add_argument("--site", choices=sorted(_SITES), help="instead of a URL: the site...")
    schedule.add_argument("--kind", choices=sorted(_KINDS), help="...the kind of category...")
    schedule.add_argument("--value", default="", help="...and its tag, channel or playlist id")
    schedule.add_argument(
        "--disable-download-cache",
        action="store_true",
        help="download videos again even where a delivery is recorded",
    )
    profile_flags.add(schedule)

    profile = client_command(
        "profile", "show a category's download profile, or change it (the flags given; the rest stays)"
    )
    profile.add_argument("category", type=int)
    profile.add_argument("--user", type=int, required=True, help="a subscriber of the category")
    profile.add_argument("--reset", action="store_true", help="start from the default profile (everything)")
    profile_flags.add(profile)

    categories = client_command("categories", "a user's categories and their counts")
    categories.add_argument("--user", type=int, required=True)

    events = client_command("events", "what happened, newest first")
    events.add_argument("--category", type=int, default=0)
    events.add_argument("--all", action="store_true", help="every category's events")
    events.add_argument("--limit", type=int, default=0)

    unsubscribe = client_command("unsubscribe", "remove a user's subscription")
    unsubscribe.add_argument("--user", type=int, required=True)
    unsubscribe.add_argument("--category", type=int, required=True)

    retry = client_command(
        "retry",
        "put failed videos back to pending: a category's (--user, --category) or a website's (--website)",
    )
    retry.add_argument("--failed", action="store_true", help="failed videos (the default; the only kind)")
    retry.add_argument("--user", type=int, default=0, help="a subscriber of --category")
    retry.add_argument("--category", type=int, default=0)
    retry.add_argument("--website", default="", help="only this website's videos, e.g. www.nicovideo.jp")

    downloads = client_command("downloads", "videos queued, downloading or uploading")
    downloads.add_argument("--limit", type=int, default=0)
    client_command("watch", "follow downloads live (Ctrl-C stops)", json=False)
    cancel = client_command("cancel", "stop a running download, wherever it runs")
    cancel.add_argument("video", type=int)
    cancel.add_argument("--fail", action="store_true", help="mark it failed instead of pending")

    unapproved = client_command("unapproved", "videos waiting for approval")
    unapproved.add_argument("--category", type=int, default=0)
    unapproved.add_argument("--limit", type=int, default=0)
    for name in ("approve", "reject"):
        sub = client_command(name, f"{name} a video")
        sub.add_argument("video", type=int)

    client_command("health", "exit 0 only if the service is SERVING (a container's HEALTHCHECK)", json=False)
    client_command("stats", "videos by status and website, the oldest pending, the instances alive")
    sites = client_command("sites", "each site's limits and circuit breaker; `sites reset SITE` closes one")
    sites.add_argument("action", nargs="?", choices=["reset"], help="close SITE's breaker by hand")
    sites.add_argument("site", nargs="?", default="", help='a site ("*.nicovideo.jp") or a host under it')
    doctor = client_command(
        "doctor", "what the service needs and whether it has it; exit 0 only when nothing is wrong"
    )
    doctor.set_defaults(target=None)
    doctor.description = (
        "Checks this machine with the settings `serve` would use (--config, SCHEDULER_*); "
        "with --target, asks that running service instead."
    )
    export = client_command(
        "export", "every subscription, with its category's URL and profile, as JSON", json=False
    )
    export.add_argument("--user", type=int, default=0, help="only this user's (default: everyone's)")
    imports = client_command(
        "import", "subscribe a user to every category of a file: a scheduler export, OPML, Takeout CSV"
    )
    imports.add_argument("file", type=Path, help="the file ('-': standard input)")
    imports.add_argument("--user", type=int, required=True, help="the user the subscriptions are for")

    client_command("inference", "list the tag -> content category rules")
    infer = client_command("infer", "add or change a tag -> content category rule")
    infer.add_argument("tag")
    infer.add_argument("category")
    return parser


def _request(args: argparse.Namespace) -> tuple[str, object]:
    """The RPC and request message a client command stands for."""
    match args.command:
        case "schedule":
            return "ScheduleCategory", pb.ScheduleCategoryRequest(
                url=args.url,
                user_id=args.user,
                disable_download_cache=args.disable_download_cache,
                site=_SITES.get(args.site or "", pb.SITE_UNSPECIFIED),
                kind=_KINDS.get(args.kind or "", pb.CATEGORY_KIND_UNSPECIFIED),
                value=args.value,
                profile=profile_flags.apply(args, pb.DownloadProfile()),
            )
        case "categories":
            return "ListCategories", pb.ListCategoriesRequest(user_id=args.user)
        case "events":
            return "ListEvents", pb.ListEventsRequest(
                category_id=args.category, show_all=args.all or not args.category, limit=args.limit
            )
        case "unsubscribe":
            return "Unsubscribe", pb.UnsubscribeRequest(user_id=args.user, category_id=args.category)
        case "retry":
            return "RetryFailed", pb.RetryFailedRequest(
                user_id=args.user, category_id=args.category, website=args.website
            )
        case "stats":
            return "GetStats", pb.GetStatsRequest()
        case "sites" if args.action == "reset":
            return "ResetSite", pb.ResetSiteRequest(site=args.site)
        case "sites":
            return "ListSites", pb.ListSitesRequest()
        case "downloads":
            return "ListDownloads", pb.ListDownloadsRequest(limit=args.limit)
        case "unapproved":
            return "ListUnapprovedVideos", pb.ListUnapprovedVideosRequest(
                category_id=args.category, limit=args.limit
            )
        case "cancel":
            return "CancelDownload", pb.CancelDownloadRequest(video_id=args.video, fail=args.fail)
        case "approve":
            return "ApproveVideo", pb.ApproveVideoRequest(video_id=args.video)
        case "reject":
            return "RejectVideo", pb.RejectVideoRequest(video_id=args.video)
        case "inference":
            return "ListInferenceCategories", pb.ListInferenceCategoriesRequest()
        case "doctor":
            return "Diagnose", pb.DiagnoseRequest()
        case "infer":
            return "AddInferenceCategory", pb.AddInferenceCategoryRequest(
                tag=args.tag, category=args.category
            )
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "retry" and not args.website and not (args.user and args.category):
        parser.error("retry: give --user and --category, or --website")
    if args.command == "sites" and bool(args.action) != bool(args.site):
        parser.error("sites: `sites` lists them; `sites reset SITE` closes SITE's breaker")
    # Commands of this machine, with the settings `serve` reads (doctor: without --target).
    if args.command in ("serve", "migrate", "notify") or (args.command == "doctor" and args.target is None):
        logs.configure()
        try:
            settings = load(args.config)
        except SettingsError as error:
            print(f"scheduler: {error}", file=sys.stderr)
            return 2
        logs.configure(settings.log.level, settings.log.format)
        if args.command == "serve":
            return _serve(_migrating(settings, False) if args.no_migrate else settings)
        if args.command == "doctor":
            return _doctor(settings, args.json)
        if args.command == "notify":
            return _notify_test(settings)
        return _migrate(settings)
    try:
        connection = client_connection(args, os.environ)
    except SettingsError as error:
        print(f"scheduler: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "watch":
            transport.watch(connection, _write, sys.stdout.isatty())
            return 0
        if args.command == "health":
            status = transport.health(connection)
            print(status)
            return 0 if status == "SERVING" else 1
        if args.command == "export":
            subscriptions = transport.receive_all(
                connection, "ExportSubscriptions", pb.ExportSubscriptionsRequest(user_id=args.user)
            )
            print(subscription_files.export(subscriptions))
            return 0
        if args.command == "import":
            return subscribing.import_file(connection, args)
        if args.command == "profile":
            response = subscribing.profile(connection, args)
        else:
            method, request = _request(args)
            response = transport.call(connection, method, request)  # type: ignore[arg-type]
            if args.command == "schedule" and subscribing.kept_its_profile(args, request, response):
                print(
                    f"scheduler: category {response.category_id} has a profile of its own; "
                    f"`scheduler profile {response.category_id} --user {args.user} ...` changes it",
                    file=sys.stderr,
                )
    except ClientError as error:
        print(f"scheduler: {error}", file=sys.stderr)
        return 1
    print(render.as_json(response) if args.json else render.describe(response))
    return 1 if isinstance(response, pb.DiagnoseResponse) and not response.healthy else 0


def client_connection(args: argparse.Namespace, environ: Mapping[str, str]) -> transport.Connection:
    """How a client command reaches the service: --target, else $SCHEDULER_TARGET, else the
    service on this host as the settings `serve` reads (--config, SCHEDULER_GRPC__*) have
    it listen (0.0.0.0: this host), with their first token and their certificate (TLS)
    where none is given. A target given by hand gets nothing of those settings: their
    token is not sent to another service. Raises SettingsError."""
    token = args.token or environ.get(TOKEN_VARIABLE, "")
    if target := args.target or environ.get(TARGET_VARIABLE):
        return transport.Connection(target, token, args.ca, args.cert, args.key, args.timeout)
    grpc = load(args.config, environ).grpc
    return transport.Connection(
        transport.local_target(grpc.host, grpc.port),
        token or next(iter(grpc.tokens), ""),
        args.ca or grpc.tls_cert,
        args.cert,
        args.key,
        args.timeout,
    )


def _doctor(settings: Settings, json: bool) -> int:
    """`scheduler doctor` of this machine; exit code 1 when anything is wrong."""
    from scheduler.api.convert import diagnosis
    from scheduler.serve.doctor import diagnose_here

    response = diagnosis(trio_asyncio.run(diagnose_here, settings))
    print(render.as_json(response) if json else render.describe(response))
    return 0 if response.healthy else 1


def _notify_test(settings: Settings) -> int:
    """A test message to every notification URL, a line each saying whether it went; exit 1
    unless every one did."""
    if not settings.notify.targets:
        print("scheduler: no notification URLs (SCHEDULER_NOTIFY__URLS)", file=sys.stderr)
        return 1

    async def send_all() -> list[bool]:
        return [await sender.send(t, test_message()) for t in settings.notify.targets]

    sent = trio.run(send_all)
    for target, ok in zip(settings.notify.targets, sent, strict=True):
        print(
            f"{target.label}: {'sent' if ok else 'NOT SENT (see the URL, the service it names, the network)'}"
        )
    return 0 if all(sent) else 1


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _migrating(settings: Settings, enabled: bool) -> Settings:
    return replace(settings, database=replace(settings.database, migrate_on_start=enabled))


def _serve(settings: Settings) -> int:
    from scheduler.serve.service import serve_until_signalled

    return _run_trio(serve_until_signalled, settings, "start")


def _migrate(settings: Settings) -> int:
    from scheduler.serve.service import open_database

    async def migrate_only(settings: Settings) -> None:
        try:
            async with open_database(settings, Patience(settings.startup.wait_s)):
                pass  # the migrations are applied on the way in
        except Exception as error:
            raise startup.as_failure(error) from error

    return _run_trio(migrate_only, _migrating(settings, True), "migrate")


def _run_trio(function: Callable[[Settings], Awaitable[None]], settings: Settings, verb: str) -> int:
    """Runs `serve` or `migrate`: a start that fails ends in one line and its exit code
    (scheduler/startup.py), with the traceback only at DEBUG; an error after the start is
    a bug, logged with its traceback."""
    try:
        trio_asyncio.run(function, settings)
    except Exception as error:
        if failure := startup.find(error, startup.StartupFailure):
            debug = log.isEnabledFor(logging.DEBUG)
            log.error("cannot %s: %s", verb, failure, exc_info=error if debug else None)
            return failure.exit_code
        log.critical("stopped by an unexpected error", exc_info=error)
        return startup.EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
