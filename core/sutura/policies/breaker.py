"""Backoff and the circuit breaker as pure functions over plain state (property-tested).

Circuit per data source (an OpenLineage namespace such as ``postgres://db:5432``),
shared by every job that touches it:

    closed --(threshold transient failures within window)--> open
    open --(cooldown elapsed: the next caller is the probe)--> half_open
    half_open --(probe succeeds)--> closed
    half_open --(probe fails)--> open (cooldown restarts)

While open, and while a half-open probe is in flight, callers wait instead of retrying.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

__all__ = ["Circuit", "admit", "backoff", "on_failure", "on_success"]


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads the retries of many workers hit by one outage, so they do not
    return in lockstep; the cap bounds the longest wait.
    """
    attempt = max(1, attempt)
    ceiling = min(cap, base * (2 ** min(attempt - 1, 62)))
    return (rng or random).uniform(0.0, ceiling)


@dataclass(frozen=True)
class Circuit:
    source: str
    state: str = "closed"  # closed | open | half_open
    failures: tuple[float, ...] = field(default_factory=tuple)  # times of recent transient failures
    opened_at: float | None = None
    probe_at: float | None = None


def admit(c: Circuit, now: float, cooldown: float) -> tuple[bool, float, Circuit]:
    """May a caller touch the source now? Returns (allowed, seconds to wait, new state).

    In half-open exactly one caller (the probe) is admitted per cooldown period.
    """
    if c.state == "closed":
        return True, 0.0, c
    if c.state == "open":
        assert c.opened_at is not None
        remaining = min(c.opened_at + cooldown - now, cooldown)  # min: (a + b) - a may exceed b by a rounding
        if remaining > 0:
            return False, remaining, c
        return True, 0.0, replace(c, state="half_open", probe_at=now)
    # half_open: a probe is in flight; let another through only if it vanished for a cooldown
    assert c.probe_at is not None
    remaining = min(c.probe_at + cooldown - now, cooldown)
    if remaining > 0:
        return False, remaining, c
    return True, 0.0, replace(c, probe_at=now)


def on_failure(c: Circuit, now: float, threshold: int, window: float) -> Circuit:
    """Record a transient failure of the source."""
    if c.state == "half_open":  # the probe failed
        return replace(c, state="open", opened_at=now, probe_at=None, failures=(now,))
    recent = tuple(x for x in c.failures if now - x <= window) + (now,)
    recent = recent[-max(threshold, 1) * 4 :]
    if c.state == "closed" and len(recent) >= threshold:
        return replace(c, state="open", opened_at=now, failures=recent)
    return replace(c, failures=recent)


def on_success(c: Circuit) -> Circuit:
    """The source answered: close the circuit and forget its failures."""
    return Circuit(source=c.source)
