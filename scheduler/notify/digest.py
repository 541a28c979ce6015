"""What a digest says (pure): one message per kind of event, with how many and the first
few of them."""

from __future__ import annotations

from dataclasses import dataclass

# How each kind is told: "3 new videos delivered".
_WHAT = {
    "delivered": ("new video delivered", "new videos delivered"),
    "failed": ("video failed for good", "videos failed for good"),
    "breaker": ("change of a site's circuit breaker", "changes of sites' circuit breakers"),
    "cookies": ("site's cookies about to expire", "sites' cookies about to expire"),
    "listing": ("category whose listing keeps failing", "categories whose listings keep failing"),
    "instance": ("instance died", "instances died"),
}
FIRST = 5  # subjects a digest names; the rest are counted
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def digest(kind: str, events: int, first: tuple[str, ...]) -> Message:
    one, many = _WHAT[kind]
    headline = f"{events} {one if events == 1 else many}"
    lines = [f"- {_short(subject)}" for subject in first[:FIRST]]
    if events > len(lines):
        lines.append(f"... and {events - len(lines)} more")
    return Message(f"Scheduler: {headline}", "\n".join([f"{headline}:", *lines]))


def test_message() -> Message:
    return Message("Scheduler: a test", "A test message from `scheduler notify test`: this URL works.")


def _short(subject: str) -> str:
    flat = " ".join(subject.split())
    return flat if len(flat) <= MAX_SUBJECT else flat[: MAX_SUBJECT - 1] + "…"
