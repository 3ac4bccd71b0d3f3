"""Circuit breakers and the retry policy for tool calls.

Retries come from :mod:`evalkit.runner._retry`: only transient errors (timeouts,
429, 5xx, connection errors) are retried, with exponential backoff and full jitter.
A breaker sits in front of each tool so that a dependency that keeps failing is
not hammered: after ``failure_threshold`` consecutive failures it opens, calls are
refused for ``cooldown_s``, then one trial call is let through (half-open); its
success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.runner._retry import RetryPolicy


class BreakerState(enum.Enum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker opens and how long it stays open."""

    failure_threshold: int = 3
    """Consecutive failures that open the breaker."""
    cooldown_s: float = 5.0
    """Seconds an open breaker refuses calls before letting one through."""


class CircuitBreaker:
    """A closed / open / half-open breaker with an injectable clock.

    Example::

        breaker = CircuitBreaker("search_docs", clock=fake_clock)
        if breaker.allow():
            try:
                result = call()
            except Exception:
                breaker.record_failure()
            else:
                breaker.record_success()
    """

    def __init__(
        self,
        name: str,
        config: BreakerConfig = BreakerConfig(),
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its cool-down reads half-open)."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a call through (0 when it would now)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.config.cooldown_s - self._clock())

    def allow(self) -> bool:
        """Whether a call may go ahead now; in half-open only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: reset the count and close the breaker."""
        self._failures = 0
        self._probe_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """A call failed: open on the threshold, or straight away when half-open."""
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if self._state is BreakerState.HALF_OPEN or was_probe:
            self._open()
        elif self._state is BreakerState.CLOSED and (
            self._failures >= self.config.failure_threshold
        ):
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN)

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.config.cooldown_s

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_transition is not None and old is not new:
            self._on_transition(self.name, old, new)


def retry_policy_from(params: Mapping[str, Any]) -> RetryPolicy:
    """The tool retry policy from ``params.tool_retry`` (fast defaults for tools)."""
    raw = params.get("tool_retry") or {}
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", 3)),
        base_delay_s=float(raw.get("base_delay_s", 0.02)),
        max_delay_s=float(raw.get("max_delay_s", 0.25)),
        max_total_s=float(raw.get("max_total_s", 5.0)),
    )


def breaker_config_from(params: Mapping[str, Any]) -> BreakerConfig:
    """The breaker settings from ``params.breaker``."""
    raw = params.get("breaker") or {}
    return BreakerConfig(
        failure_threshold=int(raw.get("failure_threshold", 3)),
        cooldown_s=float(raw.get("cooldown_s", 5.0)),
    )
