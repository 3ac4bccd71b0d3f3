"""LLM-as-judge with scripted clients (fake objects with the model client's ``chat``)."""

import asyncio
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import ConfigError, JudgeError, ModelError
from evalkit.model import ChatResult, StructuredOutputError
from evalkit.scorer import Judge, JudgeSpec, ScorerEnv, build_scorers, judge_pairwise
from evalkit.scorer._judge_spec import (
    judge_spec_from_dict,
    load_judge_spec,
    render_messages,
    verdict_model,
)

ROOT = Path(__file__).resolve().parents[2]
Reply = str | Callable[[list[dict[str, str]]], str] | BaseException


class ScriptedClient:
    """Replies from a script: strings, callables of the messages, or exceptions."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    async def chat(self, messages, *, schema=None, temperature=0.7, max_tokens=256, seed=None,
                   trial=None, stop=None, span_attributes=None) -> ChatResult:
        self.calls.append({"messages": messages, "schema": schema, "temperature": temperature,
                           "max_tokens": max_tokens, "seed": seed, "trial": trial,
                           "span_attributes": dict(span_attributes or {})})
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, BaseException):
            raise reply
        text = reply(messages) if callable(reply) else reply
        return ChatResult(text=text, parsed=None, model="scripted", input_tokens=20,
                          output_tokens=8, latency_s=0.01, cost_usd=0.0, cached=False,
                          finish_reason="stop")


def verdict(v: str, why: str = "because") -> str:
    return json.dumps({"reasoning": why, "verdict": v})


SPEC = {
    "name": "t", "rubric": "Is it right?",
    "verdicts": {"correct": 1.0, "partial": 0.5, "incorrect": 0.0},
    "threshold": 1.0, "question": "input.question", "answer": "output.answer",
    "reference": "expected.reference",
}


def scorer_for(client: ScriptedClient, **overrides: Any):
    spec = {**SPEC, **overrides}
    env = ScorerEnv(judge_model="scripted-judge", extra={"judge_client": client})
    (scorer,) = build_scorers([{"type": "llm-rubric", "judge": spec}], env=env)
    return scorer


@pytest.fixture
def view(make_view):
    return make_view({"answer": "len() returns the number of items."},
                     input={"question": "What does len() return?"},
                     expected={"reference": "The number of items in a container."},
                     trial=2, seed=1000)


# -- judge model is required ------------------------------------------------------------


def test_missing_judge_model_is_a_config_error():
    env = ScorerEnv(judge_model=None, model_under_test="local")
    with pytest.raises(ConfigError, match="needs a judge model") as info:
        build_scorers([{"type": "llm-rubric", "rubric": "Is it good?"}], env=env, path="s.yaml")
    assert info.value.key == "scorers[0]"
    assert "never used" in str(info.value)
    with pytest.raises(ConfigError, match="needs a judge model"):
        build_scorers([{"type": "llm-pairwise", "rubric": "x", "other": "expected.a"}], env=env)


def test_judge_model_from_suite_overrides_spec(monkeypatch):
    created: list[str] = []
    monkeypatch.setattr("evalkit.scorer._judge.shared_client",
                        lambda model, *a: created.append(model))
    (s,) = build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "model": "spec-model"}}],
                         env=ScorerEnv())
    assert s.judge.model == "spec-model"
    (s,) = build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "model": "spec-model"}}],
                         env=ScorerEnv(judge_model="suite-model"))
    assert s.judge.model == "suite-model"
    assert created == []  # construction is cheap: no client until the first judgement


def test_scorer_spec_errors():
    env = ScorerEnv(judge_model="m")
    with pytest.raises(ConfigError, match="exactly one of 'judge'"):
        build_scorers([{"type": "llm-rubric"}], env=env)
    with pytest.raises(ConfigError, match=r"judge spec 'nope\.yaml' not found"):
        build_scorers([{"type": "llm-rubric", "judge": "nope.yaml"}], env=env)
    with pytest.raises(ConfigError, match="verdicts: give at least two"):
        build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "verdicts": {"ok": 1}}}], env=env)
    with pytest.raises(ConfigError, match="inline judge spec: samplez: unknown key"):
        build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "samplez": 3}}], env=env)
    with pytest.raises(ConfigError, match=r"verdicts\.bad\.score"):
        build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "verdicts": {
            "good": 1, "bad": 2}}}], env=env)
    with pytest.raises(ConfigError, match="unknown placeholder"):
        build_scorers([{"type": "llm-rubric", "judge": {**SPEC, "template": "{{answr}}"}}],
                      env=env)


# -- one judgement ----------------------------------------------------------------------


def test_verdict_scores_and_pass_from_threshold(run_scorer, view):
    client = ScriptedClient(verdict("correct", "matches the reference"))
    row = asyncio.run(scorer_for(client).score(view))
    assert row.status == "ok"
    assert row.passed
    assert row.value == 1.0
    assert row.reason == "t: correct — matches the reference"
    # partial scores 0.5 and the judge has no say on pass: threshold 1.0 fails it
    row = asyncio.run(scorer_for(ScriptedClient(verdict("partial", "it passes!"))).score(view))
    assert row.value == 0.5
    assert row.passed is False
    row = asyncio.run(scorer_for(ScriptedClient(verdict("partial")), threshold=0.5).score(view))
    assert row.passed is True


def test_call_goes_through_client_with_schema_trial_and_seed(view):
    client = ScriptedClient(verdict("correct"))
    scorer = scorer_for(client, temperature=0.3, max_tokens=99)
    asyncio.run(scorer.score(view))
    (call,) = client.calls
    assert call["trial"] == 2
    assert call["seed"] == 1000
    assert call["temperature"] == 0.3
    assert call["max_tokens"] == 99
    assert list(call["schema"].model_json_schema()["properties"]) == ["reasoning", "verdict"]
    attrs = call["span_attributes"]
    assert attrs["evalkit.judge.spec_hash"] == scorer.judge.hash
    assert attrs["evalkit.scorer"] == "llm-rubric"
    user = call["messages"][1]["content"]
    assert "What does len() return?" in user
    assert "Reference answer:\nThe number of items in a container." in user
    assert "Answer to grade:\nlen() returns the number of items." in user
    assert "one of: correct, partial, incorrect" in user


def test_details_record_hash_model_params_and_samples(view):
    row = asyncio.run(scorer_for(ScriptedClient(verdict("correct"))).score(view))
    d = row.details
    assert d["spec_hash"].startswith("sha256:")
    assert len(d["spec_hash"]) == 71
    assert d["model"] == "scripted-judge"
    assert d["params"] == {"temperature": 0.0, "max_tokens": 256, "samples": 1,
                           "aggregate": "majority", "threshold": 1.0}
    assert d["samples"] == ["correct"]
    assert d["spread"] == 0.0
    assert d["calibration"]["status"] == "missing"
    assert d["input_tokens"] == 20
    assert d["output_tokens"] == 8


@pytest.mark.parametrize("reply", [
    "The answer is correct.",                              # not JSON
    '{"reasoning": "ok", "verdict": "right"}',             # not an allowed verdict
    '{"reasoning": "ok"}',                                 # no verdict
    '{"reasoning": "ok", "verdict": "correct", "passed": true}',  # extra field
    "",
])
def test_unparseable_reply_is_judge_error(view, reply):
    row = asyncio.run(scorer_for(ScriptedClient(reply)).score(view))
    assert row.status == "judge_error"
    assert row.passed is None
    assert row.value != row.value
    assert "does not parse" in row.reason


def test_client_errors_become_judge_errors(view):
    err = StructuredOutputError("no match", raw="{bad", schema_name="JudgeVerdict")
    row = asyncio.run(scorer_for(ScriptedClient(err)).score(view))
    assert row.status == "judge_error"
    assert "no match" in row.reason
    row = asyncio.run(scorer_for(ScriptedClient(ModelError("server down"))).score(view))
    assert row.status == "judge_error"
    assert "server down" in row.reason
    row = asyncio.run(scorer_for(ScriptedClient(RuntimeError("bug"))).score(view))
    assert row.status == "scorer_error"


def test_judge_error_keeps_the_raw_reply():
    judge = Judge(judge_spec_from_dict(SPEC), "m", client=ScriptedClient("nonsense"))
    with pytest.raises(JudgeError) as info:
        asyncio.run(judge.judge(answer="a", question="q"))
    assert info.value.raw == "nonsense"


def test_missing_answer_fails_missing_question_is_scorer_error(make_view):
    client = ScriptedClient(verdict("correct"))
    row = asyncio.run(scorer_for(client).score(make_view({"text": "x"}, expected={
        "reference": "r"})))
    assert row.status == "ok"
    assert not row.passed
    assert "output.answer is missing" in row.reason
    row = asyncio.run(scorer_for(client).score(make_view({"answer": "  "}, expected={
        "reference": "r"})))
    assert not row.passed
    assert "empty; nothing to judge" in row.reason
    row = asyncio.run(scorer_for(client).score(make_view({"answer": "x"}, input={})))
    assert row.status == "scorer_error"
    assert "judge question missing" in row.reason
    assert client.calls == []


# -- samples ----------------------------------------------------------------------------


def test_majority_over_samples_with_spread(view):
    client = ScriptedClient(verdict("correct"), verdict("incorrect"), verdict("correct"))
    row = asyncio.run(scorer_for(client, samples=3).score(view))
    assert row.value == 1.0
    assert row.passed
    assert row.details["samples"] == ["correct", "incorrect", "correct"]
    assert row.details["spread"] == pytest.approx(statistics.pstdev([1.0, 0.0, 1.0]))
    assert row.details["agreement"] == pytest.approx(2 / 3)
    assert "(2/3 samples, spread 0.47)" in row.reason
    assert [c["seed"] for c in client.calls] == [1000, 1001, 1002]  # distinct cache keys
    assert {c["trial"] for c in client.calls} == {2}


def test_majority_tie_goes_to_lower_score(view):
    client = ScriptedClient(verdict("correct"), verdict("incorrect"))
    row = asyncio.run(scorer_for(client, samples=2).score(view))
    assert row.value == 0.0
    assert row.details["majority_tie"] is True


def test_mean_over_samples(view):
    client = ScriptedClient(verdict("correct"), verdict("partial"), verdict("incorrect"),
                            verdict("partial"))
    row = asyncio.run(scorer_for(client, samples=4, aggregate="mean", threshold=0.5).score(view))
    assert row.value == pytest.approx(0.5)
    assert row.passed
    assert row.details["sample_scores"] == [1.0, 0.5, 0.0, 0.5]
    assert row.details["spread"] == pytest.approx(statistics.pstdev([1, 0.5, 0, 0.5]))


def test_one_unparseable_sample_fails_the_judgement(view):
    client = ScriptedClient(verdict("correct"), "garbage", verdict("correct"))
    row = asyncio.run(scorer_for(client, samples=3).score(view))
    assert row.status == "judge_error"


# -- pairwise ---------------------------------------------------------------------------


def _prefers(word: str) -> Callable[[list[dict[str, str]]], str]:
    """A consistent judge: picks whichever answer contains *word*."""
    def reply(messages):
        user = messages[1]["content"]
        a = user.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        return verdict("A" if word in a else "B")
    return reply


def test_pairwise_consistent_winner():
    spec = judge_spec_from_dict(SPEC)
    p = asyncio.run(judge_pairwise(spec, "q?", "good answer", "bad answer", model="m",
                                   client=ScriptedClient(_prefers("good"))))
    assert p.winner == "a"
    assert p.score == 1.0
    assert p.order_consistent
    p = asyncio.run(judge_pairwise(spec, "q?", "bad answer", "good answer", model="m",
                                   client=ScriptedClient(_prefers("good"))))
    assert p.winner == "b"
    assert p.score == 0.0


def test_pairwise_order_flip_is_a_tie():
    spec = judge_spec_from_dict(SPEC)
    client = ScriptedClient(verdict("A"))  # always prefers the first shown: position bias
    p = asyncio.run(judge_pairwise(spec, "q?", "one", "two", model="m", client=client))
    assert (p.forward, p.backward) == ("a", "b")
    assert p.winner == "tie"
    assert p.score == 0.5
    assert not p.order_consistent
    assert p.details["order_consistent"] is False
    firsts = [c["messages"][1]["content"].split("Answer A:\n")[1][:3] for c in client.calls]
    assert sorted(firsts) == ["one", "two"]


def test_pairwise_scorer(make_view):
    env = ScorerEnv(judge_model="m", extra={"judge_client": ScriptedClient(verdict("A"))})
    (s,) = build_scorers([{"type": "llm-pairwise", "judge": SPEC, "other": "expected.base"}],
                         env=env)
    row = asyncio.run(s.score(make_view({"answer": "new"}, input={"question": "q"},
                                        expected={"base": "old", "reference": "r"})))
    assert row.value == 0.5
    assert row.passed
    assert "order-dependent" in row.reason


def test_pairwise_empty_answer_loses_without_asking_the_judge(make_view):
    client = ScriptedClient(verdict("A"))
    env = ScorerEnv(judge_model="m", extra={"judge_client": client})
    (s,) = build_scorers([{"type": "llm-pairwise", "judge": SPEC, "other": "expected.base"}],
                         env=env)
    row = asyncio.run(s.score(make_view({"answer": "  "}, input={"question": "q"},
                                        expected={"base": "old", "reference": "r"})))
    assert row.value == 0.0
    assert "empty" in row.reason
    assert client.calls == []


# -- spec files, hash, schema, prompt ---------------------------------------------------


def test_spec_hash_is_canonical():
    a = judge_spec_from_dict(SPEC)
    b = judge_spec_from_dict({**SPEC, "verdicts": {"correct": {"score": 1.0},
                                                   "partial": {"score": 0.5},
                                                   "incorrect": 0}})
    assert a.hash == b.hash
    assert judge_spec_from_dict({**SPEC, "rubric": "Other"}).hash != a.hash


def test_verdict_schema_is_reasoning_then_enum():
    schema = verdict_model(judge_spec_from_dict(SPEC)).model_json_schema()
    assert list(schema["properties"]) == ["reasoning", "verdict"]
    assert schema["properties"]["verdict"]["enum"] == ["correct", "partial", "incorrect"]
    assert schema["additionalProperties"] is False
    no_cot = verdict_model(judge_spec_from_dict({**SPEC, "reasoning": False}))
    assert list(no_cot.model_json_schema()["properties"]) == ["verdict"]


def test_custom_template_and_truncation():
    template = "Q={{question}} A={{ answer }} R={{reference}}"
    spec = judge_spec_from_dict({**SPEC, "template": template,
                                 "max_answer_chars": 100})
    (_, user) = render_messages(spec, question="q", answer="a", reference=None)
    assert user["content"] == "Q=q A=a R="
    client = ScriptedClient(verdict("correct"))
    j = asyncio.run(Judge(spec, "m", client=client).judge(answer="x" * 150, question="q"))
    assert j.details["answer_truncated"] is True
    assert "x" * 100 + " […]" in client.calls[0]["messages"][1]["content"]


def test_shipped_judge_spec_loads():
    spec, path = load_judge_spec(ROOT / "judges" / "pydocs_correctness.yaml")
    assert isinstance(spec, JudgeSpec)
    assert path.name == "pydocs_correctness.yaml"
    assert list(spec.verdicts) == ["correct", "partial", "incorrect"]
    assert spec.threshold == 1.0
    assert spec.reference == "expected.reference"


def test_judge_spec_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrubric: [unclosed\n")
    with pytest.raises(ValueError, match="invalid YAML at line"):
        load_judge_spec(bad)
    bad.write_text("name: x\n")
    with pytest.raises(ValueError, match="rubric: Field required"):
        load_judge_spec(bad)


def test_judge_path_relative_to_suite_dir(tmp_path):
    (tmp_path / "judges").mkdir()
    (tmp_path / "suites").mkdir()
    (tmp_path / "judges" / "j.yaml").write_text(json.dumps(SPEC))
    env = ScorerEnv(judge_model="m", extra={"suite_dir": str(tmp_path / "suites")})
    (s,) = build_scorers([{"type": "llm-rubric", "judge": "judges/j.yaml"}], env=env)
    assert s.judge.spec.name == "t"
