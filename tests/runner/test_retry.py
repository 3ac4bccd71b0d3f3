from __future__ import annotations

import asyncio
import random

import pytest

from evalkit.errors import ContractError, TransientError
from evalkit.runner import RetryPolicy, classify, retry_async


class Http(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        headers = {"retry-after": retry_after} if retry_after else {}
        self.response = type("R", (), {"headers": headers})()


class APIConnectionError(Exception):
    """Named like openai's, not imported from it."""


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (Http(429), True), (Http(500), True), (Http(503), True), (Http(408), True),
        (Http(400), False), (Http(401), False), (Http(404), False), (Http(422), False),
        (ConnectionResetError(), True), (TimeoutError(), True), (APIConnectionError(), True),
        (TransientError("x"), True), (ValueError("bug"), False), (KeyError("k"), False),
        (ContractError("bad schema", step="search_docs"), False),
    ],
)
def test_classification(exc: Exception, transient: bool) -> None:
    assert classify(exc).transient is transient


def test_retry_after_is_parsed_and_honoured() -> None:
    info = classify(Http(429, retry_after="3"))
    assert info.retry_after == 3.0 and info.status_code == 429
    policy = RetryPolicy(max_delay_s=10)
    assert policy.delay(1, random.Random(0), retry_after=3.0) == 3.0
    assert policy.delay(1, random.Random(0), retry_after=60.0) == 10.0


def test_full_jitter_is_bounded_and_grows() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert 0.0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8


def test_retry_async_retries_transient_only() -> None:
    calls = {"n": 0}
    waits: list[float] = []

    async def sleep(d: float) -> None:
        waits.append(d)

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise Http(503)
        return "ok"

    assert asyncio.run(retry_async(flaky, RetryPolicy(max_attempts=4), sleep=sleep)) == "ok"
    assert calls["n"] == 3 and len(waits) == 2

    calls["n"] = 0

    async def bad() -> str:
        calls["n"] += 1
        raise Http(400)

    with pytest.raises(Http):
        asyncio.run(retry_async(bad, RetryPolicy(max_attempts=4), sleep=sleep))
    assert calls["n"] == 1

    calls["n"] = 0

    async def down() -> str:
        calls["n"] += 1
        raise Http(502)

    with pytest.raises(Http):
        asyncio.run(retry_async(down, RetryPolicy(max_attempts=3), sleep=sleep))
    assert calls["n"] == 3
