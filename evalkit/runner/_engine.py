"""The trial loop: bounded concurrency, per-trial deadline, transient retries, scoring.

This is the hot path (a zero-latency target should cost well under 0.1 ms per
trial here), so it avoids per-trial tasks, dicts and OpenTelemetry work that a
target did not ask for: a fixed pool of worker coroutines pulls (case, trial, arm)
items from one shared iterator, and rows are stored as tuples.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from evalkit.dataset import Case
from evalkit.results import Journal, RunTables, TableWriter
from evalkit.results._schema import SPAN_ROW_KEYS
from evalkit.results._store import json_encoder
from evalkit.runner._context import TrialContext, _ctx_var, trial_seed
from evalkit.runner._retry import RetryPolicy, classify
from evalkit.scorer import Score, Scorer, ScoreRow, TrialView

_MAX_ERROR_CHARS = 2000
_NO_SPANS: list[Any] = []  # shared, never mutated: a trial without spans
_GC_THRESHOLD0 = 10_000  # young-generation threshold during a run (Python's default: 700)
# Built once: json.dumps builds a new encoder per call. (The target output's encoder
# checks for cycles, which makes it per-loop state: each Engine builds its own.)
_ROW_JSON = json_encoder(default=str, check_circular=False)


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm of a run: a name and the params it overrides (``prompt_version=v2``)."""

    name: str = "main"
    params: Mapping[str, Any] = field(default_factory=dict)


class PlannedTrial(NamedTuple):
    """One unit of work (a named tuple: one is built per trial)."""

    arm: str
    params: Mapping[str, Any]
    case: Case
    trial: int
    cluster: str | None
    tags: list[str]


class Plan:
    """Every (case, trial, arm) still to run, in run order, made as they are consumed.

    Interleaved per case so that arms share drift. Items are built lazily (a
    million-trial plan would otherwise hold a million objects for the whole run,
    and build them before the first trial starts); ``len`` is known up front.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        trials: int,
        arms: Sequence[Arm],
        arm_params: Mapping[str, Mapping[str, Any]],
        clusters: Mapping[str, str | None],
        done: set[tuple[str, str, int]],
    ) -> None:
        self.cases, self.trials, self.arms = list(cases), trials, list(arms)
        self.arm_params, self.clusters, self.done = arm_params, clusters, done
        n = len(self.cases) * trials * len(self.arms)
        if done:
            n -= sum(
                1
                for case in self.cases
                for k in range(trials)
                for arm in self.arms
                if (arm.name, case.id, k) in done
            )
        self._len = n

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[PlannedTrial]:
        done, arm_params = self.done, self.arm_params
        arms = [(arm.name, arm_params[arm.name]) for arm in self.arms]
        for case in self.cases:
            tags = list(case.tags)
            cluster = self.clusters.get(case.id)
            for k in range(self.trials):
                for name, params in arms:
                    if done and (name, case.id, k) in done:
                        continue
                    yield PlannedTrial(name, params, case, k, cluster, tags)


def plan_trials(
    cases: Sequence[Case],
    trials: int,
    arms: Sequence[Arm],
    arm_params: Mapping[str, Mapping[str, Any]],
    clusters: Mapping[str, str | None],
    done: set[tuple[str, str, int]] = frozenset(),  # type: ignore[assignment]
) -> Plan:
    """Every (case, trial, arm) not yet done, interleaved per case so arms share drift."""
    return Plan(cases, trials, arms, arm_params, clusters, done)


@dataclass
class Progress:
    """Counters the progress display reads."""

    total: int
    done: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class Engine:
    """Runs planned trials and records trial, score and span rows."""

    def __init__(
        self,
        *,
        target: Callable[..., Any],
        scorers: Sequence[Scorer],
        master_seed: int,
        timeout_s: float,
        concurrency: int,
        retry: RetryPolicy,
        tables: RunTables | None,
        journal: Journal | None,
        progress: Progress,
        faults: Mapping[str, Any] | None = None,
        model_factory: Callable[[], Any] | None = None,
        writer: TableWriter | None = None,
    ) -> None:
        self.target = target
        self.is_async = _is_async_callable(target)
        self.scorers = list(scorers)
        self.master_seed = master_seed
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.retry = retry
        self.tables = tables
        self.journal = journal
        self.progress = progress
        self.faults = faults or {}
        self.model_factory = model_factory
        self.writer = writer
        # where each finished trial goes: the journal first (durability), then the
        # Parquet writer and/or the in-memory tables
        self._sinks: list[Callable[[tuple[Any, ...], list[Any], list[Any]], None]] = [
            sink.append if isinstance(sink, Journal) else sink.add
            for sink in (journal, writer, tables)
            if sink is not None
        ]
        self._pool: ThreadPoolExecutor | None = None
        self._ctx_set = _ctx_var().set
        # (scorer, check is a coroutine function, finish is the base class's): skips an
        # isawaitable() per trial, and lets the base finish return a tuple, not a ScoreRow
        self._scorers = [
            (
                scorer,
                inspect.iscoroutinefunction(scorer.check),
                type(scorer).finish is Scorer.finish,
            )
            for scorer in self.scorers
        ]
        self._out_json = json_encoder(allow_nan=False)
        self._timeout_message = f"trial exceeded timeout_s={self.timeout_s:g}"

    async def run(self, plan: Sequence[PlannedTrial] | Plan) -> None:
        """Run every planned trial with at most ``concurrency`` in flight."""
        if not plan:
            return
        if not self.is_async:
            self._pool = ThreadPoolExecutor(
                max_workers=min(self.concurrency, 64), thread_name_prefix="evalkit-target"
            )
        self._loop_time = asyncio.get_running_loop().time
        items = iter(plan)
        n_workers = min(self.concurrency, len(plan))
        self._deadlines = [math.inf] * n_workers
        self._expired = [False] * n_workers
        workers = [asyncio.create_task(self._worker(i, items)) for i in range(n_workers)]
        self._workers = workers
        watchdog = asyncio.create_task(self._watchdog())
        # Objects alive now (modules, the dataset, the caller's data) live through
        # the run: freezing them keeps the collector's full passes during the run
        # from walking them again (a full pass stalls every worker at once). Not
        # done when someone else already froze objects.
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        # Each finished trial keeps a row or two until the table writer converts
        # them (every 2,048 rows), so at the default threshold (700) a young
        # collection ran every few hundred trials and stalled every worker (30-40 ms
        # per 10,000 latency-bound trials). Raised for the run, and put back unless
        # someone changed it meanwhile.
        threshold = gc.get_threshold()
        ours = (max(threshold[0], _GC_THRESHOLD0), *threshold[1:])
        gc.set_threshold(*ours)
        try:
            await asyncio.gather(*workers)
        finally:
            if gc.get_threshold() == ours:
                gc.set_threshold(*threshold)
            if freeze:
                gc.unfreeze()
            watchdog.cancel()
            for w in workers:
                w.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    async def _watchdog(self) -> None:
        """Cancel trials past their deadline.

        One timer for the whole run instead of one per trial (``asyncio.timeout``
        costs more than the rest of a zero-latency trial). A deadline is enforced
        within ``tick`` seconds of passing.
        """
        loop = asyncio.get_running_loop()
        tick = min(max(self.timeout_s / 20.0, 0.001), 0.05)
        deadlines, expired, workers = self._deadlines, self._expired, self._workers
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            if min(deadlines) > now:
                continue
            for i, deadline in enumerate(deadlines):
                if deadline <= now and not expired[i]:
                    expired[i] = True
                    workers[i].cancel()

    async def _worker(self, index: int, items: Iterator[PlannedTrial]) -> None:
        for item in items:
            await self._run_one(index, item)

    async def _call(self, case: Case, ctx: TrialContext) -> Any:
        if self.is_async:
            return await self.target(case, ctx)
        loop = asyncio.get_running_loop()
        run_in_ctx = contextvars.copy_context().run
        return await loop.run_in_executor(self._pool, run_in_ctx, self.target, case, ctx)

    async def _run_one(self, index: int, item: PlannedTrial) -> None:
        # The hot path: a zero-latency trial costs a few tens of microseconds here,
        # so no work is done that the trial did not ask for (no tracer unless the
        # target opens spans, no ScoreRow objects, no coroutine per attempt unless
        # the first one fails).
        case = item.case
        arm, cid, k = item.arm, case.id, item.trial
        seed = trial_seed(self.master_seed, cid, k)
        ctx = TrialContext(
            trial=k,
            seed=seed,
            params=item.params,
            case_id=cid,
            arm=arm,
            faults=self.faults,
            model_factory=self.model_factory,
        )
        self._ctx_set(ctx)
        started_at = time.time()
        t0 = time.perf_counter()

        # The first attempt, inline; a failure goes on in _retry.
        status = "ok"
        output: Any = None
        error_type: str | None = None
        error_message: str | None = None
        attempts = 1
        self._deadlines[index] = self._loop_time() + self.timeout_s
        try:
            if self.is_async:
                output = await self.target(case, ctx)
            else:
                output = await self._call(case, ctx)
        except asyncio.CancelledError:
            if not self._disarm(index):
                raise
            status, error_type, error_message = "timeout", "TimeoutError", self._timeout_message
        except Exception as exc:
            self._disarm(index)
            status, output, error_type, error_message, attempts = await self._retry(
                index, case, ctx, seed, t0, exc
            )
        else:
            self._disarm(index)  # the target may have swallowed our cancellation
        latency = time.perf_counter() - t0

        out_json: str | None = None
        if status == "ok":
            try:
                out_json = self._out_json(output)
            except (TypeError, ValueError) as exc:
                status, error_type = "error", "OutputNotSerializable"
                error_message = f"target output is not JSON-serialisable: {exc}"

        tracer = ctx._tracer
        rows: list[dict[str, Any]] = tracer.rows if tracer is not None else _NO_SPANS
        in_tok = out_tok = llm_calls = tool_calls = tool_errors = 0
        cost = 0.0
        for r in rows:  # usually empty for a plain function target
            op = r["operation"]
            if op == "execute_tool":
                tool_calls += 1
                if r["status"] == "ERROR":
                    tool_errors += 1
            elif op in ("chat", "text_completion", "generate_content"):
                llm_calls += 1
            in_tok += r["input_tokens"]
            out_tok += r["output_tokens"]
            cost += r["cost_usd"]

        score_rows: list[tuple[Any, ...]] = []
        if status == "ok" and self._scorers:
            view = TrialView(
                case=case,
                output=output,
                trial=k,
                seed=seed,
                status=status,
                latency_s=latency,
                spans=list(rows),
                usage={
                    "input_tokens": in_tok,
                    "output_tokens": out_tok,
                    "cost_usd": cost,
                    "llm_calls": llm_calls,
                    "tool_calls": tool_calls,
                    "tool_errors": tool_errors,
                },
                arm=arm,
            )
            for scorer, maybe_async, base_finish in self._scorers:
                try:
                    raw: Any = scorer.check(view)
                    if maybe_async or (type(raw) is not Score and hasattr(type(raw), "__await__")):
                        raw = await raw
                    f = scorer._finish_fields(raw) if base_finish else _fields(scorer.finish(raw))
                except Exception as exc:
                    f = _fields(scorer.error_row(exc))
                details = f[8]
                score_rows.append(
                    (
                        arm,
                        cid,
                        k,
                        f[0],
                        f[1],
                        f[2],
                        f[3],
                        f[4],
                        f[5],
                        f[6],
                        f[7],
                        _ROW_JSON(details) if details else None,
                    )
                )
        span_rows = (
            [(arm, cid, k, *[r[key] for key in SPAN_ROW_KEYS]) for r in tracer.close()]
            if tracer is not None
            else _NO_SPANS
        )

        trial_row = (
            arm,
            cid,
            k,
            seed,
            status,
            item.cluster,
            item.tags,
            out_json,
            error_type,
            error_message,
            latency,
            started_at,
            attempts,
            in_tok,
            out_tok,
            cost,
            llm_calls,
            tool_calls,
            tool_errors,
            ctx.outcome,
            _ROW_JSON(ctx.versions) if ctx.versions else None,
        )
        for sink in self._sinks:
            sink(trial_row, score_rows, span_rows)
        progress = self.progress
        progress.done += 1
        if status != "ok":
            progress.errors += 1

    def _disarm(self, index: int) -> bool:
        """Clear worker *index*'s deadline; True when it had already expired.

        An expired deadline cancelled the worker's task: that cancellation is taken back
        here (the attempt became a timeout, or the target swallowed it and finished).
        """
        self._deadlines[index] = math.inf
        if not self._expired[index]:
            return False
        self._expired[index] = False
        _uncancel()
        return True

    async def _retry(
        self,
        index: int,
        case: Case,
        ctx: TrialContext,
        seed: int,
        t0: float,
        failure: Exception,
    ) -> tuple[str, Any, str | None, str | None, int]:
        """After a failed first attempt: retry transient failures within the budget.

        Returns (status, output, error type, error message, attempts).
        """
        attempts = 1
        rng: random.Random | None = None
        while True:
            info = classify(failure)
            message = _message(failure)
            if not info.transient:
                return "error", None, type(failure).__name__, message, attempts
            if attempts >= self.retry.max_attempts:
                return (
                    "infra_error",
                    None,
                    type(failure).__name__,
                    f"{message} (gave up after {attempts} attempts)",
                    attempts,
                )
            rng = rng or random.Random(seed)
            delay = self.retry.delay(attempts, rng, info.retry_after)
            if time.perf_counter() - t0 + delay > self.retry.max_total_s:
                return (
                    "infra_error",
                    None,
                    type(failure).__name__,
                    f"{message} (retry budget {self.retry.max_total_s:g}s spent)",
                    attempts,
                )
            await asyncio.sleep(delay)
            attempts += 1
            self._deadlines[index] = self._loop_time() + self.timeout_s
            try:
                output = await self._call(case, ctx)
                self._disarm(index)  # the target may have swallowed our cancellation
                return "ok", output, None, None, attempts
            except asyncio.CancelledError:
                if not self._disarm(index):
                    raise
                return "timeout", None, "TimeoutError", self._timeout_message, attempts
            except Exception as exc:
                self._disarm(index)
                failure = exc


def _fields(row: ScoreRow) -> tuple[Any, ...]:
    """A ScoreRow's fields in order (what ``Scorer._finish_fields`` returns)."""
    return (
        row.scorer,
        row.metric,
        row.value,
        row.passed,
        row.status,
        row.reason,
        row.weight,
        row.completion,
        row.details,
    )


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return text


def finite(value: float) -> bool:
    """True for a finite float."""
    return not (math.isnan(value) or math.isinf(value))
