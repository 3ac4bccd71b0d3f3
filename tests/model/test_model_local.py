"""The embedded model (SmolLM2-135M-Instruct through llama-cpp-python), for real."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from evalkit.model import ChatResult, ModelClient, StructuredOutputError, create_client
from evalkit.model._client import effective_seed
from evalkit.runner._context import TrialContext
from evalkit.trace import CACHE_HIT, COST, INPUT_TOKENS, OUTPUT_TOKENS, REQUEST_MODEL

pytestmark = pytest.mark.model

QUESTION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is Python?"},
]


class City(BaseModel):
    name: str = Field(max_length=60)
    country: str = Field(max_length=60)
    population_millions: float


@pytest.fixture(scope="module")
def client(gguf_path: Path) -> ModelClient:
    return create_client("local")


def _chat(client: ModelClient, messages: list[dict[str, str]], **kwargs: Any) -> ChatResult:
    return asyncio.run(client.chat(messages, **kwargs))


def test_chat_returns_text_and_usage(client: ModelClient) -> None:
    assert isinstance(client, ModelClient)
    assert client.name == "local:SmolLM2-135M-Instruct"
    result = _chat(client, QUESTION, max_tokens=24, seed=1)
    assert result.text.strip()
    assert result.model == "SmolLM2-135M-Instruct"
    assert result.input_tokens > 10
    assert 0 < result.output_tokens <= 24
    assert result.finish_reason in {"stop", "length"}
    assert result.cost_usd == 0.0
    assert result.latency_s > 0
    assert not result.cached
    assert result.parsed is None


def test_same_seed_same_text_and_seeds_matter(client: ModelClient) -> None:
    first = _chat(client, QUESTION, max_tokens=24, seed=11, temperature=1.0)
    _chat(client, [{"role": "user", "content": "Something else entirely."}], max_tokens=8)
    again = _chat(client, QUESTION, max_tokens=24, seed=11, temperature=1.0)
    assert again.text == first.text
    others = {_chat(client, QUESTION, max_tokens=24, seed=s, temperature=1.0).text
              for s in (12, 13, 14)}
    assert len(others | {first.text}) > 1


def test_structured_output_is_a_valid_instance(client: ModelClient) -> None:
    messages = [{"role": "user", "content": "Describe Paris as JSON with name, country and "
                 "population in millions."}]
    result = _chat(client, messages, schema=City, max_tokens=64, seed=2)
    assert isinstance(result.parsed, City)
    assert City.model_validate_json(result.text) == result.parsed


def test_truncated_structured_output_raises_with_raw_text(client: ModelClient) -> None:
    messages = [{"role": "user", "content": "Describe Paris as JSON."}]
    with pytest.raises(StructuredOutputError) as info:
        _chat(client, messages, schema=City, max_tokens=4, seed=2)
    assert info.value.raw.startswith("{")
    assert info.value.schema_name == "City"
    assert info.value.model == "local:SmolLM2-135M-Instruct"


def test_span_in_a_trial_uses_the_trial_seed(client: ModelClient,
                                             trial_context: TrialContext) -> None:
    result = _chat(client, QUESTION, max_tokens=16, temperature=0.5,
                   span_attributes={"gen_ai.agent.name": "writer"})
    (row,) = trial_context.tracer.rows
    attrs = json.loads(row["attributes"])
    assert row["operation"] == "chat"
    assert row["status"] == "UNSET"
    assert (row["input_tokens"], row["output_tokens"]) == (result.input_tokens,
                                                          result.output_tokens)
    assert attrs[REQUEST_MODEL] == "SmolLM2-135M-Instruct"
    assert attrs["gen_ai.response.model"] == "SmolLM2-135M-Instruct"
    assert attrs["gen_ai.request.seed"] == effective_seed(trial_context.seed)
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.max_tokens"] == 16
    assert attrs["evalkit.trial"] == 0
    assert attrs[CACHE_HIT] is False
    assert attrs[COST] == 0.0
    assert attrs[INPUT_TOKENS] == result.input_tokens
    assert attrs[OUTPUT_TOKENS] == result.output_tokens
    assert json.loads(attrs["gen_ai.response.finish_reasons"]) == [result.finish_reason]
    assert attrs["evalkit.latency_s"] > 0
    assert attrs["gen_ai.agent.name"] == "writer"
    # The trial seed is the default: an explicit seed equal to it reproduces the text.
    assert _chat(client, QUESTION, max_tokens=16, temperature=0.5,
                 seed=trial_context.seed).text == result.text


def test_failed_structured_call_marks_the_span(client: ModelClient,
                                               trial_context: TrialContext) -> None:
    with pytest.raises(StructuredOutputError):
        _chat(client, [{"role": "user", "content": "JSON please"}], schema=City, max_tokens=3)
    (row,) = trial_context.tracer.rows
    assert row["status"] == "ERROR"
    assert row["error_type"] == "StructuredOutputError"
    assert row["output_tokens"] == 3


def test_concurrent_calls_are_serialised_and_reproducible(client: ModelClient) -> None:
    prompts = [[{"role": "user", "content": f"Say a word about the number {i}."}]
               for i in range(4)]

    async def all_at_once() -> list[str]:
        results = await asyncio.gather(*(client.chat(p, max_tokens=12, seed=9) for p in prompts))
        return [r.text for r in results]

    together = asyncio.run(all_at_once())
    one_by_one = [_chat(client, p, max_tokens=12, seed=9).text for p in prompts]
    assert together == one_by_one


def test_prompt_longer_than_context_is_a_model_error(gguf_path: Path) -> None:
    from evalkit.errors import ModelError

    small = create_client("local", n_ctx=512)
    with pytest.raises(ModelError, match="context"):
        _chat(small, [{"role": "user", "content": "word " * 700}], max_tokens=8)
