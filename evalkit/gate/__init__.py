"""The CI gate: thresholds, non-inferiority margins and a k-of-n rule → three verdicts.

Example:
    >>> from evalkit.gate import GateSpec
    >>> spec = GateSpec.model_validate({"regression": {"completion_rate": {"margin": 0.05}}})
    >>> spec.alpha_fail, spec.on_inconclusive
    (0.01, 'fail')
"""

from __future__ import annotations

from evalkit.gate._rules import RuleCheck
from evalkit.gate._spec import GateSpec, PerCaseRule, RegressionRule, ThresholdRule
from evalkit.gate._verdict import (
    GateResult,
    MdeEstimate,
    Verdict,
    evaluate_gate,
    minimum_detectable_effects,
)

__all__ = [
    "GateResult",
    "GateSpec",
    "MdeEstimate",
    "PerCaseRule",
    "RegressionRule",
    "RuleCheck",
    "ThresholdRule",
    "Verdict",
    "evaluate_gate",
    "minimum_detectable_effects",
]
