"""Circuit breaker: closed → open → half-open → closed / open, on an injected clock."""

from __future__ import annotations

from evalkit.reference.resilience import BreakerConfig, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, cooldown: float = 10.0):
    clock = FakeClock()
    transitions: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "search_docs", BreakerConfig(failure_threshold=threshold, cooldown_s=cooldown),
        clock=clock, on_transition=lambda _n, a, b: transitions.append((a.value, b.value)),
    )
    return breaker, clock, transitions


def test_opens_after_threshold_consecutive_failures():
    breaker, _, transitions = make(threshold=3)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert transitions == [("closed", "open")]


def test_success_resets_the_failure_count():
    breaker, _, _ = make(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_half_open_after_cooldown_then_closes_on_success():
    breaker, clock, transitions = make(threshold=1, cooldown=10.0)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    assert not breaker.allow()
    assert breaker.retry_after() > 0
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()          # the single probe
    assert not breaker.allow()      # a second caller waits for the probe
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_half_open_probe_failure_reopens_for_a_new_cooldown():
    breaker, clock, transitions = make(threshold=2, cooldown=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.0
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert transitions[-2:] == [("half_open", "open"), ("open", "half_open")]
