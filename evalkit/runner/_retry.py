"""Retry only what is transient: connection errors, timeouts of a dependency, 429, 5xx.

Backoff is exponential with full jitter (AWS architecture blog, 2015), capped per wait,
in attempts and in total time, and a server's ``Retry-After`` is honoured. Errors that
retrying cannot fix (bad requests, auth, contract violations, bugs) are never retried.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from evalkit.errors import ContractError, TransientError

T = TypeVar("T")

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
_TRANSIENT_NAMES = frozenset(
    {
        "APIConnectionError",
        "APITimeoutError",
        "RateLimitError",
        "InternalServerError",
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "ServiceUnavailableError",
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before a transient failure becomes ``infra_error``."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_total_s: float = 120.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempt is 1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class Classification:
    """Whether an exception is worth retrying, and what the server asked for."""

    transient: bool
    retry_after: float | None = None
    status_code: int | None = None


def _parse_retry_after(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return status if isinstance(status, int) else None


def _retry_after_of(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None)
    if headers is None:
        return None
    try:
        return _parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
    except AttributeError:
        return None


def classify(exc: BaseException) -> Classification:
    """Decide whether *exc* is a transient dependency failure.

    Transient: :class:`~evalkit.errors.TransientError`, connection errors, timeouts
    raised by a dependency, HTTP 408/409/425/429 and 5xx (duck-typed on
    ``status_code`` so openai and httpx errors work without importing them).
    """
    if isinstance(exc, TransientError):
        return Classification(True, exc.retry_after, exc.status_code)
    if isinstance(exc, ContractError):
        return Classification(False)
    status = _status_of(exc)
    if status is not None:
        transient = status in _TRANSIENT_STATUS or 500 <= status <= 599
        return Classification(transient, _retry_after_of(exc) if transient else None, status)
    if isinstance(exc, ConnectionError | TimeoutError):
        return Classification(True)
    for cls in type(exc).__mro__:
        if cls.__name__ in _TRANSIENT_NAMES:
            return Classification(True, _retry_after_of(exc))
    return Classification(False)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy = RetryPolicy(),
    *,
    rng: random.Random | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Await ``fn()``, retrying transient failures per *policy*; re-raise the rest.

    Args:
        fn: zero-argument coroutine factory (called once per attempt).
        policy: attempts, backoff and time caps.
        rng: jitter source (seed it for reproducible timing in tests).
        on_retry: called with (attempt, error, delay) before each wait.
        sleep: injectable for tests.
    """
    rng = rng or random.Random()
    start = time.monotonic()
    attempt = 1
    while True:
        try:
            return await fn()
        except Exception as exc:
            info = classify(exc)
            if not info.transient or attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt, rng, info.retry_after)
            if time.monotonic() - start + delay > policy.max_total_s:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await sleep(delay)
            attempt += 1
