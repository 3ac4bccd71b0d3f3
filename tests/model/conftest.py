"""Fixtures for the model-layer tests: the embedded GGUF, a trial context, a real server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.model import default_gguf_path
from evalkit.runner._context import TrialContext, _ctx_var
from evalkit.trace import TrialTracer


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The embedded model's GGUF; skips the test when the `local` extra is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'evalkit[local]')")
    try:
        return default_gguf_path()
    except ConfigError as exc:
        pytest.skip(f"embedded model not available: {exc}")


@pytest.fixture
def trial_context() -> Iterator[TrialContext]:
    """A current TrialContext (trial 0, seed 1) with a fresh tracer, as the runner sets."""
    ctx = TrialContext(trial=0, seed=1, params={}, tracer=TrialTracer(), case_id="case-1")
    token = _ctx_var().set(ctx)
    try:
        yield ctx
    finally:
        _ctx_var().reset(token)
        ctx.tracer.close()


@pytest.fixture(scope="session")
def openai_server_url(gguf_path: Path) -> Iterator[str]:
    """Base URL of llama-cpp-python's OpenAI-compatible server on 127.0.0.1."""
    if importlib.util.find_spec("uvicorn") is None:
        pytest.skip("llama-cpp-python[server] extra is not installed")
    from evalkit.model.testing import start_local_openai_server

    with start_local_openai_server(gguf_path) as base_url:
        yield base_url
