"""The suite file: what to run, how often, how to score it and how to gate it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RetrySpec(BaseModel):
    """Retries of transient dependency failures (connection errors, 429, 5xx)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=4, ge=1, le=20)
    """Attempts in all, the first included."""
    base_delay_s: float = Field(default=0.5, ge=0)
    """First backoff ceiling; doubles each attempt (full jitter below it)."""
    max_delay_s: float = Field(default=20.0, ge=0)
    """Largest single wait."""
    max_total_s: float = Field(default=120.0, ge=0)
    """Give up once this much time has gone to retries of one trial."""


class SuiteSpec(BaseModel):
    """A suite: ``suites/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Suite name; run folders go to ``reports/<name>/<run-id>/``."""
    description: str = ""
    """What this suite evaluates."""
    kind: Literal["component", "workflow"] = "workflow"
    """A component eval (one agent or tool) or a workflow eval (the whole pipeline)."""
    dataset: str
    """Dataset pin: ``name``, ``name@1.2.0`` or ``name@sha256:…``."""
    target: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    """System under test, ``package.module:callable`` taking ``(case, ctx)``."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Passed to the target as ``ctx.params``; overridable with ``--param k=v``."""
    model: str = "local"
    """Model under test: ``local``, ``openai:NAME``, ``openai-compatible:NAME@URL``."""
    judge_model: str | None = None
    """Model for LLM-as-judge scorers; required by them, never the model under test by default."""
    trials: int = Field(default=3, ge=1, le=10_000)
    """Trials per case (K)."""
    seed: int = 0
    """Master seed; every (case, trial) gets a distinct seed derived from it."""
    concurrency: int = Field(default=8, ge=1, le=100_000)
    """Trials in flight at once."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Per-trial timeout; a trial over it gets status ``timeout``."""
    retry: RetrySpec = Field(default_factory=RetrySpec)
    """Retry policy for transient failures."""
    cache: Literal["off", "read-write", "read-only"] = "off"
    """Model response cache mode (keyed by trial index, so trials stay independent)."""
    faults: dict[str, Any] = Field(default_factory=dict)
    """Fault injection settings handed to the target as ``ctx.faults``."""
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    """Checks and judges; each a mapping with ``type`` and its options."""
    gate: dict[str, Any] = Field(default_factory=dict)
    """Gate rules (see ``evalkit.gate``): thresholds, regression margins, k-of-n."""
    tags: list[str] = Field(default_factory=list)
    """Run only cases with any of these tags (empty: all)."""
    cases: list[str] = Field(default_factory=list)
    """Run only these case ids (empty: all)."""

    @field_validator("scorers")
    @classmethod
    def _scorer_types(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, item in enumerate(value):
            if "type" not in item:
                raise ValueError(f"scorer {i} has no 'type'")
        return value
