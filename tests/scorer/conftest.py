"""Helpers for scorer tests: build a trial view, run one scorer spec on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from evalkit.dataset import Case
from evalkit.scorer import ScorerEnv, ScoreRow, TrialView, build_scorers


def _make_view(output: Any = None, *, expected: Mapping[str, Any] | None = None,
              input: Any = None, spans: list[dict[str, Any]] | None = None,
              usage: Mapping[str, float] | None = None, latency_s: float = 0.0,
              trial: int = 0, seed: int = 0) -> TrialView:
    case = Case(id="case-1", input=input if input is not None else {"question": "q?"},
                expected=dict(expected or {}))
    return TrialView(case=case, output=output, trial=trial, seed=seed, latency_s=latency_s,
                     spans=spans or [], usage=dict(usage or {}))


def _tool_span(name: str, args: Any = None, *, result: Any = None, start: float = 0.0,
              status: str = "OK", error_type: str | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if args is not None:
        attrs["gen_ai.tool.call.arguments"] = json.dumps(args)
    if result is not None:
        attrs["gen_ai.tool.call.result"] = result if isinstance(result, str) else json.dumps(result)
    return {"operation": "execute_tool", "tool_name": name, "name": f"execute_tool {name}",
            "start_time": start, "status": status, "error_type": error_type,
            "attributes": json.dumps(attrs), "input_tokens": 0, "output_tokens": 0,
            "cost_usd": 0.0}


def _llm_span(*, start: float = 0.0, input_tokens: int = 0, output_tokens: int = 0,
             cost_usd: float = 0.0) -> dict[str, Any]:
    return {"operation": "chat", "tool_name": None, "name": "chat local", "start_time": start,
            "status": "OK", "error_type": None, "attributes": "{}",
            "input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost_usd}


def _score(spec: Mapping[str, Any], view: TrialView, env: ScorerEnv | None = None) -> ScoreRow:
    (scorer,) = build_scorers([spec], env=env)
    return asyncio.run(scorer.score(view))


@pytest.fixture
def run_scorer() -> Callable[..., ScoreRow]:
    """``run_scorer(spec_dict, view, env=None) -> ScoreRow``."""
    return _score


@pytest.fixture
def make_view() -> Callable[..., TrialView]:
    """``make_view(output, expected=..., input=..., spans=..., usage=...)``."""
    return _make_view


@pytest.fixture
def tool_span() -> Callable[..., dict[str, Any]]:
    """``tool_span(name, args, result=..., start=..., status=...)`` -> a span row."""
    return _tool_span


@pytest.fixture
def llm_span() -> Callable[..., dict[str, Any]]:
    """``llm_span(start=..., input_tokens=..., output_tokens=..., cost_usd=...)``."""
    return _llm_span


@pytest.fixture(scope="session")
def embedded_model() -> str:
    """The embedded model's spec (``local``); skips when llama-cpp or the GGUF is missing."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'evalkit[local]')")
    from evalkit.errors import ConfigError
    from evalkit.model import default_gguf_path

    try:
        default_gguf_path()
    except ConfigError as exc:
        pytest.skip(f"embedded model not available: {exc}")
    return "local"


@pytest.fixture(scope="session")
def judge_server_model(embedded_model: str) -> Any:
    """``openai-compatible:…`` spec of a real llama-cpp server on 127.0.0.1."""
    import importlib.util

    if importlib.util.find_spec("uvicorn") is None:
        pytest.skip("llama-cpp-python[server] extra is not installed")
    from evalkit.model.testing import start_local_openai_server

    with start_local_openai_server() as base_url:
        yield f"openai-compatible:smollm2@{base_url}"
