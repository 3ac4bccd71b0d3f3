"""Error mapping, retries and key hygiene of the openai path.

Status codes a live server will not produce on demand (429, 503, 401) are served by
``httpx2.MockTransport`` under the real ``openai`` SDK; the happy path runs against a
real server in ``test_model_openai_server.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from evalkit.errors import ModelError, TransientError
from evalkit.model import create_client
from evalkit.runner._context import TrialContext
from evalkit.runner._retry import RetryPolicy

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx2")

SECRET = "sk-test-" + "Zx9" * 12
URL = "https://api.openai.com/v1/chat/completions"
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.01, max_total_s=5.0)


def _request() -> Any:
    return httpx.Request("POST", URL)


def _status_error(cls: type[Any], status: int, headers: dict[str, str] | None = None,
                  message: str = "boom") -> Any:
    response = httpx.Response(status, headers=headers or {}, request=_request())
    return cls(message, response=response, body={"error": {"message": message}})


def _ok_body(content: str = "hello") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    }


def _map(exc: BaseException) -> ModelError:
    from evalkit.model._openai import map_openai_error

    return map_openai_error(exc, model="openai:gpt-4o-mini", secret=SECRET)


def test_rate_limit_is_transient_and_keeps_retry_after() -> None:
    error = _map(_status_error(openai.RateLimitError, 429, {"retry-after": "7"}))
    assert isinstance(error, TransientError)
    assert (error.status_code, error.retry_after) == (429, 7.0)
    assert error.model == "openai:gpt-4o-mini"
    ms = _map(_status_error(openai.RateLimitError, 429, {"retry-after-ms": "1500"}))
    assert isinstance(ms, TransientError)
    assert ms.retry_after == 1.5


@pytest.mark.parametrize(
    "make",
    [
        lambda: _status_error(openai.InternalServerError, 503),
        lambda: _status_error(openai.InternalServerError, 500),
        lambda: openai.APIConnectionError(request=_request()),
        lambda: openai.APITimeoutError(request=_request()),
    ],
)
def test_server_and_network_failures_are_transient(make: Callable[[], BaseException]) -> None:
    assert isinstance(_map(make()), TransientError)


@pytest.mark.parametrize(
    ("cls", "status"),
    [("BadRequestError", 400), ("AuthenticationError", 401), ("NotFoundError", 404),
     ("UnprocessableEntityError", 422)],
)
def test_client_errors_are_not_transient(cls: str, status: int) -> None:
    error = _map(_status_error(getattr(openai, cls), status))
    assert type(error) is ModelError
    assert f"HTTP {status}" in str(error)


def test_error_messages_never_carry_the_key() -> None:
    leaked = f"Incorrect API key provided: {SECRET}. Also sk-abcd****wxyz."
    error = _map(_status_error(openai.AuthenticationError, 401, message=leaked))
    assert SECRET not in str(error)
    assert "sk-abcd" not in str(error)


class Server:
    """A scripted transport: answers with the queued (status, headers, body) in order."""

    def __init__(self, *answers: tuple[int, dict[str, str], Any]) -> None:
        self.answers = list(answers)
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        status, headers, body = self.answers.pop(0)
        return httpx.Response(status, headers=headers, json=body)


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _client(server: Server, **options: Any) -> Any:
    transport = httpx.MockTransport(server)
    return create_client("openai:gpt-4o-mini", retry=FAST,
                         http_client=httpx.AsyncClient(transport=transport), **options)


def _rows(ctx: TrialContext) -> list[dict[str, Any]]:
    return [row for row in ctx.tracer.rows if row["operation"] == "chat"]


@pytest.mark.usefixtures("openai_env")
def test_transient_errors_are_retried_and_recorded(trial_context: TrialContext) -> None:
    server = Server(
        (429, {"retry-after": "0"}, {"error": {"message": "slow down"}}),
        (503, {}, {"error": {"message": "overloaded"}}),
        (200, {}, _ok_body()),
    )
    result = asyncio.run(_client(server).chat([{"role": "user", "content": "hi"}]))
    assert result.text == "hello"
    assert len(server.requests) == 3
    (row,) = _rows(trial_context)
    events = json.loads(row["events"])
    assert [e["name"] for e in events] == ["retry", "retry"]
    assert [e["attributes"]["status_code"] for e in events] == [429, 503]
    assert row["status"] == "UNSET"
    # Priced as gpt-4o-mini (the dated snapshot the server reports falls back too).
    assert result.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert row["cost_usd"] == pytest.approx(result.cost_usd)


@pytest.mark.usefixtures("openai_env")
def test_retries_are_bounded(trial_context: TrialContext) -> None:
    server = Server(*[(503, {}, {"error": {"message": "down"}})] * 3)
    with pytest.raises(TransientError) as info:
        asyncio.run(_client(server).chat([{"role": "user", "content": "hi"}]))
    assert info.value.status_code == 503
    assert len(server.requests) == 3
    (row,) = _rows(trial_context)
    assert row["status"] == "ERROR"
    assert row["error_type"] == "TransientError"


@pytest.mark.usefixtures("openai_env")
def test_bad_request_is_not_retried() -> None:
    server = Server((400, {}, {"error": {"message": "bad"}}), (200, {}, _ok_body()))
    with pytest.raises(ModelError) as info:
        asyncio.run(_client(server).chat([{"role": "user", "content": "hi"}]))
    assert not isinstance(info.value, TransientError)
    assert len(server.requests) == 1


@pytest.mark.usefixtures("openai_env")
def test_api_key_is_sent_but_never_recorded(trial_context: TrialContext, tmp_path: Any) -> None:
    server = Server(
        (200, {}, _ok_body()),
        (401, {}, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}),
    )
    client = _client(server, cache_dir=tmp_path, cache_mode="read-write")
    result = asyncio.run(client.chat([{"role": "user", "content": "hi"}], max_tokens=8))
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    with pytest.raises(ModelError) as info:
        asyncio.run(client.chat([{"role": "user", "content": "again"}], max_tokens=8))
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None
    everything = [repr(client), str(vars(client)), repr(result),
                  json.dumps(trial_context.tracer.rows)]
    everything.append((tmp_path / "responses.sqlite3").read_bytes().decode("latin-1"))
    for text in everything:
        assert SECRET not in text
    body = json.loads(server.requests[0].content)
    assert body["max_completion_tokens"] == 8  # openai: the non-deprecated parameter
