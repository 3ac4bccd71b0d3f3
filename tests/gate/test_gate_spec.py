"""The gate: YAML schema (GateSpec)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from evalkit.gate import GateSpec

EXAMPLE = """
gate:
  missing: fail
  on_inconclusive: fail
  alpha_fail: 0.01
  alpha_pass: 0.05
  thresholds:
    completion_rate: {min: 0.8}
    tool_error_rate: {max: 0.1}
  regression:
    completion_rate: {margin: 0.05}
    tool_error_rate: {margin: 0.02}
  per_case: {min_passes: 2, of: 3}
"""


def test_documented_example_parses():
    spec = GateSpec.model_validate(yaml.safe_load(EXAMPLE)["gate"])
    assert spec.thresholds["completion_rate"].min == 0.8
    assert spec.regression["tool_error_rate"].margin == 0.02
    assert spec.regression["tool_error_rate"].blocking
    assert spec.per_case is not None
    assert spec.per_case.share == pytest.approx(2 / 3)
    assert spec.gated_metrics == ["completion_rate", "tool_error_rate"]


def test_defaults():
    spec = GateSpec()
    assert (spec.missing, spec.on_inconclusive, spec.alpha_fail, spec.alpha_pass) == (
        "fail", "fail", 0.01, 0.05)
    assert spec.confidence == 0.95
    assert spec.power == 0.8


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"thresholds": {"completion": {"min": 0.8}}}, "unknown metric 'completion'"),
        ({"thresholds": {"completion_rate": {}}}, "give min, max or both"),
        ({"thresholds": {"completion_rate": {"min": 0.9, "max": 0.8}}}, "above max"),
        ({"thresholds": {"completion_rate": {"minimum": 0.8}}}, "Extra inputs"),
        ({"regression": {"completion_rate": {"margin": -0.1}}}, "greater than or equal"),
        ({"per_case": {"min_passes": 4, "of": 3}}, "exceeds"),
        ({"on_inconclusive": "retry"}, "on_inconclusive"),
        ({"alpha_fail": 0.7}, "alpha_fail"),
        ({"tresholds": {}}, "Extra inputs"),
    ],
)
def test_invalid_gates_are_rejected_with_the_field_named(gate, message):
    with pytest.raises(ValidationError, match=message):
        GateSpec.model_validate(gate)


def test_per_scorer_and_pass_k_metric_names_are_accepted():
    spec = GateSpec.model_validate({
        "thresholds": {"pass_rate:exact": {"min": 0.5}, "pass^3": {"min": 0.4},
                       "latency_p95_s": {"max": 30}, "score:judge": {"min": 0.7}},
    })
    assert len(spec.thresholds) == 4
