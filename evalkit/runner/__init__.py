"""The async trial runner: seeds, concurrency, timeouts, retries, journal, resume."""

from evalkit.runner._context import TrialContext, current_trial, trial_seed
from evalkit.runner._engine import Arm
from evalkit.runner._inline import run_trials
from evalkit.runner._retry import Classification, RetryPolicy, classify, retry_async
from evalkit.runner._runner import (
    RunResult,
    SharedModel,
    build_manifest,
    finish_manifest,
    new_run_id,
    redact,
    run_suite,
    run_suite_async,
)

__all__ = [
    "Arm",
    "Classification",
    "RetryPolicy",
    "RunResult",
    "SharedModel",
    "TrialContext",
    "build_manifest",
    "classify",
    "current_trial",
    "finish_manifest",
    "new_run_id",
    "redact",
    "retry_async",
    "run_suite",
    "run_suite_async",
    "run_trials",
    "trial_seed",
]
