"""What a target receives besides the case: ``ctx``."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Mapping
from typing import Any

from evalkit.trace import TrialTracer

_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=65_536)
def case_seed_base(master_seed: int, case_id: str) -> int:
    """64-bit hash of (master seed, case id): the root of a case's trial seeds."""
    digest = hashlib.blake2b(f"{master_seed}\x1f{case_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def trial_seed(master_seed: int, case_id: str, trial: int) -> int:
    """A distinct, reproducible 63-bit seed per (case, trial); the same in every arm.

    SplitMix64 finaliser over the case's hash plus the trial index: cheap, and
    well mixed so that neighbouring trials get unrelated seeds.
    """
    z = (case_seed_base(master_seed, case_id) + (trial + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class TrialContext:
    """Everything a target may use for one trial.

    Attributes:
        trial: 0-based trial index (K trials per case).
        seed: reproducible seed for this (case, trial); pass it to sampling.
        params: the suite's ``params`` after CLI and arm overrides.
        tracer: opens OpenTelemetry spans (``ctx.tracer.tool(...)``, ``.llm(...)``).
        faults: the suite's fault-injection settings.
        case_id: the case being run.
        arm: ``main``, or ``baseline`` / ``candidate`` in a compare run.
    """

    __slots__ = (
        "_model",
        "_model_factory",
        "_rng",
        "_tracer",
        "arm",
        "case_id",
        "faults",
        "outcome",
        "outcome_details",
        "params",
        "seed",
        "trial",
        "versions",
    )

    def __init__(
        self,
        *,
        trial: int,
        seed: int,
        params: Mapping[str, Any],
        tracer: TrialTracer | None = None,
        case_id: str = "",
        arm: str = "main",
        faults: Mapping[str, Any] | None = None,
        model_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.trial = trial
        self.seed = seed
        self.params = params
        self._tracer = tracer
        self.case_id = case_id
        self.arm = arm
        self.faults: Mapping[str, Any] = faults or {}
        self.versions: dict[str, dict[str, str]] = {}
        self.outcome: str | None = None
        self.outcome_details: dict[str, Any] = {}
        self._model_factory = model_factory
        self._model: Any = None
        self._rng: random.Random | None = None

    @property
    def tracer(self) -> TrialTracer:
        """This trial's tracer (created on first use: most targets open no spans)."""
        tracer = self._tracer
        if tracer is None:
            tracer = self._tracer = TrialTracer(
                case_id=self.case_id, trial=self.trial, arm=self.arm
            )
        return tracer

    @tracer.setter
    def tracer(self, value: TrialTracer) -> None:
        self._tracer = value

    @property
    def model(self) -> Any:
        """The configured model client (``evalkit.model``), created on first use."""
        if self._model is None:
            if self._model_factory is None:
                raise RuntimeError("this run has no model client configured")
            self._model = self._model_factory()
        return self._model

    @property
    def rng(self) -> random.Random:
        """A ``random.Random`` seeded with this trial's seed."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    def record_version(self, component: str, version: str, content_hash: str | None = None) -> None:
        """Report the version (and hash) of a prompt or model used; goes to the manifest."""
        entry = {"version": version}
        if content_hash:
            entry["hash"] = content_hash
        self.versions[component] = entry

    def set_outcome(self, outcome: str, **details: Any) -> None:
        """Report a distinct outcome, e.g. ``escalated`` or ``budget_exceeded``.

        An outcome other than ``ok`` is stored with the trial and reported in the
        summary; it is not counted as success by completion unless scorers say so.
        """
        self.outcome = outcome
        self.outcome_details = dict(details)


_CURRENT_CONTEXT: Any = None


def _ctx_var() -> Any:
    global _CURRENT_CONTEXT
    if _CURRENT_CONTEXT is None:
        import contextvars

        _CURRENT_CONTEXT = contextvars.ContextVar("evalkit_trial_context", default=None)
    return _CURRENT_CONTEXT


def current_trial() -> TrialContext | None:
    """The :class:`TrialContext` of the trial running in this context, if any.

    Lets libraries called by a target (the model client, a judge) find the trial's
    tracer, index and seed without the target passing ``ctx`` down.
    """
    value: TrialContext | None = _ctx_var().get()
    return value
