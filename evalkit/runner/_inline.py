"""Run trials in-process for front ends that own the loop over cases (the pytest plugin)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evalkit.dataset import Case, Dataset
from evalkit.results import RunTables
from evalkit.runner._engine import Arm, Engine, Progress, plan_trials
from evalkit.runner._retry import RetryPolicy
from evalkit.scorer import Scorer
from evalkit.suite import Suite


def run_trials(
    target: Callable[..., Any],
    cases: Sequence[Case],
    *,
    suite: Suite,
    dataset: Dataset,
    scorers: Sequence[Scorer],
    arm: Arm | None = None,
    model_factory: Callable[[], Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> RunTables:
    """Run K trials of each case (the suite's K, concurrency, timeout and retries).

    Works whether or not an event loop is already running in this thread (a
    running loop gets the trials in a helper thread with its own loop).
    """
    spec = suite.spec
    arm = arm or Arm("main", {})
    arm_params = {**spec.params, **(params or {}), **arm.params}
    plan = plan_trials(
        cases, spec.trials, [arm], {arm.name: arm_params},
        {c.id: dataset.cluster_of(c) for c in cases},
    )
    tables = RunTables()
    engine = Engine(
        target=target, scorers=scorers, master_seed=spec.seed, timeout_s=spec.timeout_s,
        concurrency=spec.concurrency, retry=RetryPolicy(**spec.retry.model_dump()),
        tables=tables, journal=None, progress=Progress(total=len(plan)), faults=spec.faults,
        model_factory=model_factory,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(engine.run(plan))
        return tables
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(engine.run(plan))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=runner, name="evalkit-inline")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return tables
