"""Property tests of backoff and the circuit breaker (pure state machines)."""

from __future__ import annotations

import random

from hypothesis import example, given
from hypothesis import strategies as st

from sutura.policies import breaker
from sutura.policies.breaker import Circuit


@given(attempt=st.integers(1, 200), base=st.floats(0.01, 100), cap=st.floats(0.01, 10_000), seed=st.integers())
def test_backoff_never_exceeds_cap_or_exponential_ceiling(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = breaker.backoff(attempt, base, cap, random.Random(seed))
    assert 0 <= delay <= cap
    assert delay <= base * 2 ** min(attempt - 1, 62)


def test_backoff_is_jittered() -> None:
    rng = random.Random(1)
    delays = {round(breaker.backoff(5, 1.0, 100.0, rng), 6) for _ in range(50)}
    assert len(delays) > 40  # full jitter: workers hit by one outage do not return in lockstep


events = st.lists(st.tuples(st.sampled_from(["fail", "success", "admit"]), st.floats(0, 50)), max_size=60)


@given(steps=events, threshold=st.integers(1, 5), window=st.floats(1, 100), cooldown=st.floats(1, 100))
@example(steps=[("fail", 28.781054149863685), ("admit", 0.0)], threshold=1, window=1.0, cooldown=35.97000016224537)  # (a + b) - a > b
def test_breaker_state_machine(steps, threshold: int, window: float, cooldown: float) -> None:
    c = Circuit("postgres://db:5432")
    now = 0.0
    for kind, gap in steps:
        now += gap
        before = c
        if kind == "fail":
            c = breaker.on_failure(c, now, threshold, window)
            recent = [x for x in before.failures if now - x <= window] + [now]
            if before.state == "closed":
                assert (c.state == "open") == (len(recent) >= threshold)
            if before.state == "half_open":
                assert c.state == "open" and c.opened_at == now  # a failed probe reopens
        elif kind == "success":
            c = breaker.on_success(c)
            assert c.state == "closed" and c.failures == ()
        else:
            allowed, wait, c = breaker.admit(c, now, cooldown)
            if before.state == "closed":
                assert allowed and wait == 0
            elif before.state == "open":
                assert allowed == (now >= before.opened_at + cooldown)
                if allowed:
                    assert c.state == "half_open" and c.probe_at == now
                else:
                    assert 0 < wait <= cooldown
            else:  # half-open: one probe per cooldown
                assert allowed == (now >= before.probe_at + cooldown)
        assert c.state in ("closed", "open", "half_open")
        assert len(c.failures) <= max(threshold, 1) * 4


def test_breaker_opens_admits_one_probe_and_closes() -> None:
    c = Circuit("s")
    for t in (0, 1, 2):
        c = breaker.on_failure(c, t, threshold=3, window=60)
    assert c.state == "open"
    assert breaker.admit(c, 10, cooldown=30)[0] is False
    allowed, _, c = breaker.admit(c, 33, cooldown=30)
    assert allowed and c.state == "half_open"
    assert breaker.admit(c, 34, cooldown=30)[0] is False  # only one probe
    c = breaker.on_success(c)
    assert breaker.admit(c, 35, cooldown=30)[0] is True
