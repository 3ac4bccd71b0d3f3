"""evalkit: eval-driven development for LLM agent workflows.

Repeated trials against versioned ground truth, deterministic checks and
LLM-as-judge, confidence intervals that respect repeated trials, paired
baseline/candidate comparisons, and a CI gate with three verdicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Case",
    "Dataset",
    "EvalkitError",
    "RunData",
    "Suite",
    "TrialContext",
    "TrialTracer",
    "__version__",
    "load_dataset",
    "load_suite",
    "open_run",
    "run_suite",
]

_LAZY = {
    "Case": "evalkit.dataset",
    "Dataset": "evalkit.dataset",
    "load_dataset": "evalkit.dataset",
    "EvalkitError": "evalkit.errors",
    "Suite": "evalkit.suite",
    "load_suite": "evalkit.suite",
    "TrialContext": "evalkit.runner",
    "run_suite": "evalkit.runner",
    "TrialTracer": "evalkit.trace",
    "RunData": "evalkit.results",
    "open_run": "evalkit.results",
}

if TYPE_CHECKING:
    from evalkit.dataset import Case, Dataset, load_dataset
    from evalkit.errors import EvalkitError
    from evalkit.results import RunData, open_run
    from evalkit.runner import TrialContext, run_suite
    from evalkit.suite import Suite, load_suite
    from evalkit.trace import TrialTracer


def __getattr__(name: str) -> Any:
    # Lazy so that ``import evalkit`` (and the pytest plugin) stay cheap.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
