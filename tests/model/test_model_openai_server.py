"""The openai-client path against a real OpenAI-compatible server on 127.0.0.1.

The server is llama-cpp-python's (``python -m llama_cpp.server``) running the embedded
model, started once per session by the ``openai_server_url`` fixture.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from pydantic import BaseModel

from evalkit.errors import TransientError
from evalkit.model import ChatResult, create_client
from evalkit.runner._context import TrialContext
from evalkit.runner._retry import RetryPolicy

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "Name one planet."}]


class Planet(BaseModel):
    name: str
    moons: int


def _chat(client: Any, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
    return asyncio.run(client.chat(messages, **kwargs))


def test_chat_usage_and_span(openai_server_url: str, trial_context: TrialContext) -> None:
    client = create_client(f"openai-compatible:smollm2@{openai_server_url}",
                           prices={"smollm2": (1.0, 2.0)})
    result = _chat(client, QUESTION, max_tokens=16, temperature=0.3)
    assert result.text.strip()
    assert result.model == "smollm2"
    assert result.input_tokens > 5
    assert 0 < result.output_tokens <= 16
    assert result.cost_usd == pytest.approx((result.input_tokens + 2 * result.output_tokens) / 1e6)
    (row,) = trial_context.tracer.rows
    attrs = json.loads(row["attributes"])
    assert row["model"] == "smollm2"
    assert (row["input_tokens"], row["output_tokens"]) == (result.input_tokens,
                                                          result.output_tokens)
    assert row["cost_usd"] == pytest.approx(result.cost_usd)
    assert attrs["gen_ai.provider.name"] == "openai_compatible"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["gen_ai.request.seed"] is not None  # the trial's seed, reduced
    assert attrs["evalkit.cache_hit"] is False


def test_same_seed_same_text_through_the_server(openai_server_url: str) -> None:
    client = create_client(f"openai-compatible:smollm2@{openai_server_url}")
    first = _chat(client, QUESTION, max_tokens=16, temperature=1.0, seed=21)
    again = _chat(client, QUESTION, max_tokens=16, temperature=1.0, seed=21)
    assert again.text == first.text


def test_structured_output_falls_back_to_what_the_server_supports(
    openai_server_url: str, trial_context: TrialContext
) -> None:
    client = create_client(f"openai-compatible:smollm2@{openai_server_url}")
    messages = [{"role": "user", "content": "Describe Mars as JSON: name and number of moons."}]
    first = _chat(client, messages, schema=Planet, max_tokens=48, seed=4)
    second = _chat(client, messages, schema=Planet, max_tokens=48, seed=5)
    assert isinstance(first.parsed, Planet)
    assert isinstance(second.parsed, Planet)
    first_row, second_row = trial_context.tracer.rows
    events = json.loads(first_row["events"])
    # llama.cpp's server rejects OpenAI's json_schema (with a 500, not a 4xx) and
    # accepts json_object + schema, which it turns into a grammar.
    assert [(e["name"], e["attributes"]["rejected"]) for e in events] == [
        ("response_format_fallback", "json_schema")
    ]
    assert second_row["events"] is None  # the accepted format is remembered
    assert first_row["status"] == second_row["status"] == "UNSET"


def test_cache_with_a_server(openai_server_url: str, tmp_path: Any) -> None:
    client = create_client(f"openai-compatible:smollm2@{openai_server_url}",
                           cache_dir=tmp_path, cache_mode="read-write")
    a = _chat(client, QUESTION, max_tokens=12, seed=1, trial=0)
    b = _chat(client, QUESTION, max_tokens=12, seed=1, trial=1)
    c = _chat(client, QUESTION, max_tokens=12, seed=1, trial=0)
    assert (a.cached, b.cached, c.cached) == (False, False, True)
    assert c.text == a.text


def test_unreachable_server_is_transient_after_bounded_retries(
    trial_context: TrialContext,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.01)
    client = create_client(f"openai-compatible:m@http://127.0.0.1:{port}/v1", retry=policy,
                           timeout_s=5)
    with pytest.raises(TransientError, match="APIConnectionError"):
        _chat(client, QUESTION, max_tokens=4)
    (row,) = trial_context.tracer.rows
    assert row["status"] == "ERROR"
    names = [e["name"] for e in json.loads(row["events"])]
    assert names.count("retry") == 1
