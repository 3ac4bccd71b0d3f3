"""Scorers: deterministic checks, trajectory matching and LLM-as-judge."""

from evalkit.scorer._base import (
    Score,
    Scorer,
    ScorerEnv,
    ScoreRow,
    ScorerSpec,
    TrialView,
    build_scorers,
    get_scorer_class,
    register_scorer,
    scorer_types,
)
from evalkit.scorer._calibrate import (
    RoganGladen,
    calibration_status,
    load_calibration,
    rogan_gladen,
)
from evalkit.scorer._judge import Judge, Judgement, PairwiseJudgement, judge_pairwise
from evalkit.scorer._judge_spec import JudgeSpec, load_judge_spec

__all__ = [
    "Judge",
    "JudgeSpec",
    "Judgement",
    "PairwiseJudgement",
    "RoganGladen",
    "Score",
    "ScoreRow",
    "Scorer",
    "ScorerEnv",
    "ScorerSpec",
    "TrialView",
    "build_scorers",
    "calibration_status",
    "get_scorer_class",
    "judge_pairwise",
    "load_calibration",
    "load_judge_spec",
    "register_scorer",
    "rogan_gladen",
    "scorer_types",
]
