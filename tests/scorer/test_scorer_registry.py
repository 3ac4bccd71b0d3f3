"""Registry, entry points, and the "never a crash" sweep over every deterministic check."""

import importlib.metadata
from typing import Any

import pytest

import evalkit.scorer._base as base
from evalkit.errors import ConfigError
from evalkit.scorer import Score, Scorer, build_scorers, get_scorer_class, scorer_types

DETERMINISTIC: dict[str, dict[str, Any]] = {
    "equals": {"expected": "expected.answer"},
    "contains": {"value": "x"},
    "contains-any": {"value": ["x", "y"]},
    "contains-all": {"value": ["x", "y"]},
    "regex": {"pattern": r"\d+"},
    "starts-with": {"value": "Yes"},
    "json-valid": {},
    "json-schema": {"schema": {"type": "object", "required": ["a"]}},
    "pydantic": {"model": "evalkit.scorer._judge_spec:VerdictOption"},
    "numeric": {"expected": "expected.n", "abs_tol": 0.5},
    "set-f1": {"expected": "expected.ids"},
    "similarity": {"expected": "expected.answer"},
    "length": {"min": 1, "max": 50},
    "refusal": {},
    "citations-subset": {},
    "latency": {"max": 1},
    "cost": {"max": 0.1},
    "tokens": {"max": 100},
    "steps": {"max": 3},
    "tool-errors": {},
    "trajectory": {},
}


def test_every_documented_type_is_registered():
    types = set(scorer_types())
    assert set(DETERMINISTIC) | {"python"} <= types
    assert {"llm-rubric", "llm-pairwise"} <= types


OUTPUTS = [None, "", "   ", "ünïcödé ✓ 日本語 🐍", {}, {"answer": None}, [], 0,
           {"nested": {"a": [1]}}]


@pytest.mark.parametrize("kind", sorted(DETERMINISTIC))
@pytest.mark.parametrize("output", OUTPUTS, ids=repr)
def test_no_check_crashes_on_odd_outputs(run_scorer, make_view, kind, output):
    spec = {"type": kind, **DETERMINISTIC[kind]}
    row = run_scorer(spec, make_view(output))  # expected.* paths are all missing here
    assert row.status == "ok", row.reason
    assert row.reason
    assert isinstance(row.passed, bool)
    assert 0.0 <= row.value <= 1.0


@pytest.mark.parametrize("kind", ["equals", "numeric", "set-f1", "similarity"])
def test_missing_reference_path_is_named(run_scorer, make_view, kind):
    row = run_scorer({"type": kind, **DETERMINISTIC[kind]}, make_view("x"))
    assert not row.passed
    assert "is missing" in row.reason


def test_missing_actual_path_is_named(run_scorer, make_view):
    for kind in ("contains-any", "starts-with", "json-valid", "length", "refusal", "numeric"):
        spec = {"type": kind, **DETERMINISTIC[kind], "actual": "output.answer"}
        if kind == "numeric":
            spec = {"type": "numeric", "value": 1, "actual": "output.answer"}
        row = run_scorer(spec, make_view({"text": "x"}))
        assert not row.passed, kind
        assert row.reason.startswith("output.answer is missing"), kind


def test_unknown_option_names_key_path():
    with pytest.raises(ConfigError) as info:
        build_scorers([{"type": "equals", "value": 1},
                       {"type": "trajectory", "mdoe": "strict"}], path="suite.yaml")
    assert info.value.key == "scorers[1].mdoe"
    assert "unknown key" in str(info.value)


def test_negate_weight_metric_apply_to_new_checks(run_scorer, make_view):
    row = run_scorer({"type": "contains-all", "value": ["a", "b"], "negate": True,
                      "weight": 2, "metric": "no_ab", "completion": False}, make_view("a"))
    assert row.value == 0.5
    assert row.weight == 2
    assert row.metric == "no_ab"
    assert row.completion is False
    assert row.reason.startswith("not: ")


class EntryPointCheck(Scorer):
    def check(self, view):
        return Score(1.0, "from a plugin")


class FakeEntryPoint:
    name = "plugin-check"
    group = "evalkit.scorers"

    def load(self):
        return EntryPointCheck


def test_third_party_scorer_via_entry_point(monkeypatch, run_scorer, make_view):
    def fake_entry_points(**kwargs):
        assert kwargs == {"group": "evalkit.scorers"}
        return [FakeEntryPoint()]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(base, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    assert get_scorer_class("plugin-check") is EntryPointCheck
    assert "plugin-check" in scorer_types()
    row = run_scorer({"type": "plugin-check"}, make_view("x"))
    assert row.passed
    assert row.reason == "from a plugin"


def test_judge_spans_are_not_counted_as_agent_steps(run_scorer, make_view, llm_span):
    judge = llm_span(input_tokens=500, output_tokens=50, cost_usd=1.0)
    judge["attributes"] = '{"evalkit.judge.spec_hash": "sha256:x"}'
    view = make_view("x", spans=[llm_span(input_tokens=10), judge])
    assert run_scorer({"type": "steps", "max": 1}, view).passed
    assert run_scorer({"type": "tokens", "max": 10}, view).passed
    assert run_scorer({"type": "cost", "max": 0.5}, view).passed


def test_a_registered_scorer_without_check_is_a_config_error_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evalkit.scorer import register_scorer

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))

    @register_scorer("test-missing-check")
    class MissingCheck(Scorer):
        pass

    with pytest.raises(ConfigError, match=r"scorers\[0\].*abstract method check"):
        build_scorers([{"type": "test-missing-check"}])
