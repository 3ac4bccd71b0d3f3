"""The judge against real models: the embedded SmolLM2 and a local OpenAI-compatible server.

Small token budgets keep these to a few seconds per call; the verdicts of a 135M model
are not asserted (they are noisy), only that they are well-formed, recorded and cached.
"""

import asyncio
import json

import pytest

from evalkit.runner._context import TrialContext, _ctx_var
from evalkit.scorer import Judge, ScorerEnv, build_scorers
from evalkit.scorer._judge_spec import judge_spec_from_dict
from evalkit.trace import TrialTracer

pytestmark = pytest.mark.model

SPEC = {
    "name": "tiny", "rubric": "Is the answer correct according to the reference?",
    "verdicts": {"correct": 1.0, "incorrect": 0.0}, "threshold": 1.0,
    "question": "input.question", "answer": "output.answer", "reference": "expected.reference",
    "reasoning_max_chars": 60, "max_tokens": 64,
}


def test_embedded_model_judges_inside_a_trial(embedded_model, make_view):
    env = ScorerEnv(judge_model=embedded_model, model_under_test="openai:gpt-x")
    (scorer,) = build_scorers([{"type": "llm-rubric", "judge": SPEC}], env=env)
    view = make_view({"answer": "len() returns the number of items."},
                     input={"question": "What does len() return?"},
                     expected={"reference": "The number of items in a container."}, seed=3)
    ctx = TrialContext(trial=0, seed=3, params={}, tracer=TrialTracer(), case_id="case-1")
    token = _ctx_var().set(ctx)
    try:
        row = asyncio.run(scorer.score(view))
    finally:
        _ctx_var().reset(token)
        spans = ctx.tracer.close()
    assert row.status == "ok", row.reason
    assert row.details["verdict"] in {"correct", "incorrect"}
    assert row.passed == (row.details["verdict"] == "correct")
    assert row.details["model"] == "local"
    assert row.details["spec_hash"].startswith("sha256:")
    (span,) = [s for s in spans if s["operation"] == "chat"]
    attrs = json.loads(span["attributes"])
    assert attrs["evalkit.judge.spec_hash"] == row.details["spec_hash"]
    assert attrs["evalkit.scorer"] == "llm-rubric"
    assert span["output_tokens"] > 0


def test_embedded_judge_cache_is_keyed_by_trial(embedded_model, tmp_path):
    judge = Judge(judge_spec_from_dict(SPEC), embedded_model, cache_dir=str(tmp_path),
                  cache_mode="read-write")

    async def run(trial: int):
        return await judge.judge(answer="Exactly one None object exists.", question="How many "
                                 "None objects are there?", reference="One; None is a singleton.",
                                 trial=trial, seed=7)

    first = asyncio.run(run(0))
    again = asyncio.run(run(0))
    other = asyncio.run(run(1))
    assert first.details["cached"] == [False]
    assert again.details["cached"] == [True]
    assert again.verdict == first.verdict
    assert other.details["cached"] == [False]  # trial 1 is never a copy of trial 0


def test_judge_through_local_openai_compatible_server(judge_server_model):
    spec = judge_spec_from_dict(SPEC)
    judge = Judge(spec, judge_server_model)
    j = asyncio.run(judge.judge(answer="-4", question="What is -7 // 2?",
                                reference="-4: floor division rounds toward negative infinity."))
    assert j.verdict in spec.verdicts
    assert j.details["model"] == judge_server_model
    assert j.details["output_tokens"] > 0
    p = asyncio.run(judge.pairwise(output_a="-4", output_b="-3", question="What is -7 // 2?"))
    assert p.winner in {"a", "b", "tie"}
    assert len(p.details["samples_forward"]) == len(p.details["samples_backward"]) == 1
    assert p.order_consistent == (p.forward == p.backward)
