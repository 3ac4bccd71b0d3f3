"""Scorers: deterministic checks, trajectory matching and LLM-as-judge."""

from evalkit.scorer._base import (
    Score,
    Scorer,
    ScorerEnv,
    ScorerSpec,
    ScoreRow,
    TrialView,
    build_scorers,
    get_scorer_class,
    register_scorer,
    scorer_types,
)

__all__ = [
    "Score",
    "ScoreRow",
    "Scorer",
    "ScorerEnv",
    "ScorerSpec",
    "TrialView",
    "build_scorers",
    "get_scorer_class",
    "register_scorer",
    "scorer_types",
]
