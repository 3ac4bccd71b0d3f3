"""The case: one row of ground truth."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Case(BaseModel):
    """One ground-truth case, a line of ``cases.jsonl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    """Stable unique identifier; comparisons pair baseline and candidate by it."""
    input: Any
    """What the target receives (free-form JSON value, usually a mapping)."""
    expected: dict[str, Any] = Field(default_factory=dict)
    """Ground truth the scorers compare against (free-form mapping)."""
    tags: tuple[str, ...] = ()
    """Scenario tags, e.g. ``happy``, ``edge``, ``adversarial``, ``past-failure``."""
    cluster: str | None = None
    """Cases sharing a cluster (same topic/source) are correlated; SEs cluster on it."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Anything else worth keeping with the case (not used for scoring by default)."""
