"""Run a suite end to end: plan, run trials, journal, write the run folder.

``run_suite`` is what ``evalkit run``, ``evalkit compare SUITE`` and the pytest
plugin call. It never decides anything: summaries and gates read the run folder.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from evalkit import __version__
from evalkit._imports import import_object
from evalkit.dataset import Dataset
from evalkit.errors import ConfigError, RunFolderError
from evalkit.results import (
    Journal,
    RunData,
    RunTables,
    TableWriter,
    read_journal,
    read_manifest,
    read_tables,
    write_manifest,
)
from evalkit.results._store import JOURNAL
from evalkit.runner._engine import Arm, Engine, Plan, Progress, plan_trials
from evalkit.runner._retry import RetryPolicy
from evalkit.scorer import ScorerEnv, build_scorers
from evalkit.suite import Suite, suite_from_dict

_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)


@dataclass
class RunResult:
    """What a finished (or interrupted) run left behind."""

    run_dir: Path
    run_id: str
    manifest: dict[str, Any] = field(repr=False)
    interrupted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    _tables: RunTables | None = field(default=None, repr=False)

    @property
    def tables(self) -> RunTables:
        """The run's rows as tuples, read back from its Parquet tables on first use.

        Rows are not kept in memory during a run (a million trials would not fit
        comfortably); :meth:`open` gives the same tables as DataFrames.
        """
        if self._tables is None:
            self._tables = read_tables(self.run_dir)
        return self._tables

    def open(self) -> RunData:
        """Open the run folder (tables as DataFrames)."""
        return RunData(self.run_dir)


def redact(value: Any) -> Any:
    """Replace values of secret-looking keys (api_key, token, …) with ``***``."""
    if isinstance(value, Mapping):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _git_info(cwd: Path) -> dict[str, Any]:
    """HEAD's sha and whether tracked files changed; None for both outside a repository.

    One ``git status`` (porcelain v2 prints HEAD's sha in its header) instead of
    ``rev-parse`` plus ``status``: a process start is a few milliseconds of every run.
    """
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    if out.returncode != 0:
        return {"sha": None, "dirty": None}
    sha: str | None = None
    dirty = False
    for line in out.stdout.splitlines():
        if line.startswith("# branch.oid "):
            sha = line[len("# branch.oid ") :].strip()
        elif line and not line.startswith("#"):
            dirty = True
    if sha is None or sha == "(initial)":  # no commit yet: what rev-parse HEAD gave
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


_PACKAGES = (
    "pydantic",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "openai",
    "llama_cpp_python",
    "opentelemetry-sdk",
)
_package_versions: dict[str, str] | None = None


def _packages() -> dict[str, str]:
    """Versions of the packages a run's numbers depend on (looked up once a process)."""
    global _package_versions
    if _package_versions is None:
        _package_versions = {}
        for name in _PACKAGES:
            found = _dist_version(name)
            if found is not None:
                _package_versions[name] = found
    return dict(_package_versions)


def _dist_version(name: str) -> str | None:
    """An installed distribution's version, None when not installed.

    Reads the ``Version`` header off the top of METADATA instead of parsing the
    whole file (``importlib.metadata.version`` parses the long description too:
    most of the manifest's build time).
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:  # end of the headers
            break
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "version":
            return value.strip()
    version: str | None = dist.version
    return version


def new_run_id() -> str:
    """``20261123T233000-1a2b3c``: sortable by start time, unique."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class SharedModel:
    """Creates the run's model client once, on first use, from any thread."""

    def __init__(self, spec: str, cache_dir: str | None, cache_mode: str) -> None:
        self.spec, self.cache_dir, self.cache_mode = spec, cache_dir, cache_mode
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from evalkit.model import create_client

                    self._client = create_client(
                        self.spec, cache_dir=self.cache_dir, cache_mode=self.cache_mode
                    )
        return self._client


class _ProgressDisplay:
    """A tqdm bar on a terminal, a plain line every few seconds elsewhere (CI)."""

    def __init__(
        self, progress: Progress, label: str, stream: TextIO | None, enabled: bool
    ) -> None:
        self.progress = progress
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty() and not os.environ.get("CI")
        self._bar: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not self.enabled:
            return
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.progress.total,
                desc=self.label,
                unit="trial",
                file=self.stream,
                dynamic_ncols=True,
                smoothing=0.1,
            )
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        interval = 0.25 if self.tty else 10.0
        while True:
            await asyncio.sleep(interval)
            self._render()

    def _render(self) -> None:
        p = self.progress
        if self._bar is not None:
            self._bar.n = p.done
            self._bar.set_postfix(errors=p.errors, refresh=False)
            self._bar.refresh()
            return
        elapsed = time.monotonic() - p.started
        rate = p.done / elapsed if elapsed > 0 else 0.0
        eta = (p.total - p.done) / rate if rate > 0 else float("nan")
        pct = 100.0 * p.done / p.total if p.total else 100.0
        self.stream.write(
            f"[evalkit] {self.label}: {p.done}/{p.total} trials ({pct:.0f}%), "
            f"{rate:.1f}/s, ETA {eta:.0f}s, errors {p.errors}\n"
        )
        self.stream.flush()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if not self.enabled:
            return
        self._render()
        if self._bar is not None:
            self._bar.close()


def _select_cases(
    suite: Suite, dataset: Dataset, case_ids: Sequence[str] | None, tags: Sequence[str] | None
) -> list[Any]:
    ids = list(case_ids or suite.spec.cases or [])
    wanted_tags = list(tags or suite.spec.tags or [])
    cases = dataset.select(ids=ids or None, tags=wanted_tags or None)
    if not cases:
        raise ConfigError(
            f"no cases selected from {dataset.name} (tags: {wanted_tags or 'any'})",
            path=suite.path,
            key="tags",
        )
    return cases


def _arm_params(suite: Suite, arms: Sequence[Arm]) -> dict[str, dict[str, Any]]:
    out = {}
    for arm in arms:
        params = dict(suite.spec.params)
        params.update(arm.params)
        out[arm.name] = params
    return out


def run_suite(
    suite: Suite | None = None,
    *,
    arms: Sequence[Arm] | None = None,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    case_ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    progress: bool = False,
    progress_stream: TextIO | None = None,
    model_factory: Callable[[], Any] | None = None,
    otlp_endpoint: str | None = None,
    journal: bool = True,
    argv: Sequence[str] | None = None,
) -> RunResult:
    """Run *suite* (or resume the run folder *resume*) and write its run folder.

    Args:
        suite: the loaded suite (None with ``resume``).
        arms: arms to run interleaved per case (default one arm ``main``).
        out_dir: the run folder (default ``reports/<suite>/<run-id>``).
        resume: an interrupted run folder; only its missing trials are run.
        case_ids: only these cases.
        tags: only cases carrying any of these tags.
        progress: show progress on stderr.
        progress_stream: where progress goes (default stderr).
        model_factory: builds the model client (default from ``suite.model``).
        otlp_endpoint: also export spans to this OTLP/HTTP collector.
        journal: keep the append-only journal (needed for ``--resume``).
        argv: the command line, recorded in the manifest.

    Raises:
        ConfigError, DatasetError, RunFolderError, TargetImportError: bad input.
        KeyboardInterrupt: after leaving a resumable run folder behind.
    """
    return asyncio.run(
        run_suite_async(
            suite,
            arms=arms,
            out_dir=out_dir,
            resume=resume,
            case_ids=case_ids,
            tags=tags,
            progress=progress,
            progress_stream=progress_stream,
            model_factory=model_factory,
            otlp_endpoint=otlp_endpoint,
            journal=journal,
            argv=argv,
        )
    )


async def run_suite_async(
    suite: Suite | None = None,
    *,
    arms: Sequence[Arm] | None = None,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    case_ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    progress: bool = False,
    progress_stream: TextIO | None = None,
    model_factory: Callable[[], Any] | None = None,
    otlp_endpoint: str | None = None,
    journal: bool = True,
    argv: Sequence[str] | None = None,
) -> RunResult:
    """Async flavour of :func:`run_suite` (for callers already in an event loop)."""
    replayed: RunTables | None = None
    done: set[tuple[str, str, int]] = set()
    manifest: dict[str, Any]
    if resume is not None:
        run_dir = Path(resume)
        manifest = read_manifest(run_dir)
        if manifest.get("status") == "complete":
            raise RunFolderError("run is already complete; nothing to resume", path=run_dir)
        suite_path = manifest.get("suite_path")
        suite = suite_from_dict(manifest["suite"], path=Path(suite_path) if suite_path else None)
        _header, replayed, _bad_tail = read_journal(run_dir / JOURNAL)
        _truncate_partial_line(run_dir / JOURNAL)
        done = replayed.keys()
        arms = [Arm(name, params) for name, params in manifest.get("arms", {"main": {}}).items()]
        case_ids = manifest.get("selection", {}).get("cases") or None
        tags = manifest.get("selection", {}).get("tags") or None
        run_id = str(manifest["run_id"])
    else:
        if suite is None:
            raise ConfigError("run_suite needs a suite or a run folder to resume")
        run_id = new_run_id()
        run_dir = Path(out_dir) if out_dir else Path("reports") / suite.name / run_id
        manifest = {}
    assert suite is not None
    spec = suite.spec
    arms = list(arms or [Arm("main", {})])
    if len({a.name for a in arms}) != len(arms):
        raise ConfigError("arm names must be unique", key="arms")

    dataset = suite.load_dataset()
    if resume is not None and manifest.get("dataset", {}).get("hash") != dataset.hash:
        raise RunFolderError(
            f"dataset {dataset.name} changed since this run started "
            f"({manifest.get('dataset', {}).get('hash', '?')[:19]} → {dataset.hash[:19]}); "
            "a resumed run must use the same data",
            path=run_dir,
        )
    cases = _select_cases(suite, dataset, case_ids, tags)
    clusters = {c.id: dataset.cluster_of(c) for c in cases}
    target = import_object(spec.target, search_path=suite.path.parent if suite.path else None)
    if not callable(target):
        raise ConfigError(f"target {spec.target!r} is not callable", path=suite.path, key="target")
    env = ScorerEnv(
        judge_model=spec.judge_model,
        model_under_test=spec.model,
        cache_dir=".evalkit-cache" if spec.cache != "off" else None,
        cache_mode=spec.cache,
    )
    scorers = build_scorers(spec.scorers, env=env, path=str(suite.path) if suite.path else None)
    arm_params = _arm_params(suite, arms)
    plan: Plan = plan_trials(cases, spec.trials, arms, arm_params, clusters, done)

    started = time.time()
    if resume is None:
        manifest = build_manifest(
            suite, dataset, run_id=run_id, arms=arms, n_cases=len(cases), n_planned=len(plan),
            case_ids=case_ids, tags=tags, argv=argv, started=started,
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        if any(run_dir.glob("*.parquet")) or (run_dir / JOURNAL).exists():
            raise RunFolderError(
                "run folder already holds a run; use --resume or another --out", path=run_dir
            )
        write_manifest(run_dir, manifest)
    else:
        manifest["status"] = "running"
        manifest.setdefault("resumed", []).append(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "trials_done": len(done),
                "trials_left": len(plan),
            }
        )
        write_manifest(run_dir, manifest)

    jrnl: Journal | None = None
    if journal:
        jrnl = Journal(run_dir / JOURNAL)
        if resume is None:
            jrnl.write_header(
                {"run_id": run_id, "suite_hash": suite.hash, "dataset_hash": dataset.hash}
            )
    if otlp_endpoint:
        from evalkit.trace import configure_otlp_export

        configure_otlp_export(otlp_endpoint)
    if model_factory is None:
        model_factory = SharedModel(spec.model, env.cache_dir, spec.cache)

    writer = TableWriter(run_dir, run_id)
    if replayed is not None:
        writer.add_tables(replayed)
        replayed = None
    prog = Progress(total=len(plan))
    display = _ProgressDisplay(prog, suite.name, progress_stream, progress)
    engine = Engine(
        target=target,
        scorers=scorers,
        master_seed=spec.seed,
        timeout_s=spec.timeout_s,
        concurrency=spec.concurrency,
        retry=RetryPolicy(**spec.retry.model_dump()),
        tables=None,
        journal=jrnl,
        progress=prog,
        faults=spec.faults,
        model_factory=model_factory,
        writer=writer,
    )
    interrupted = False
    t0 = time.perf_counter()
    display.start()
    try:
        await engine.run(plan)
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
    except BaseException:
        writer.abort()
        raise
    finally:
        display.stop()
        if jrnl is not None:
            jrnl.close()
    elapsed = time.perf_counter() - t0

    finish_manifest(manifest, writer, started)
    if interrupted:
        writer.abort()
        manifest["status"] = "interrupted"
        write_manifest(run_dir, manifest)
        raise KeyboardInterrupt(f"run interrupted; resume with: evalkit run --resume {run_dir}")
    if otlp_endpoint:
        from evalkit.trace import flush_export

        flush_export()
    try:
        manifest["rows"] = writer.finish()
    except BaseException:
        writer.abort()
        raise
    manifest["status"] = "complete"
    write_manifest(run_dir, manifest)
    return RunResult(
        run_dir=run_dir,
        run_id=run_id,
        manifest=manifest,
        stats={"elapsed_s": elapsed, "trials_run": len(plan)},
    )


def build_manifest(
    suite: Suite,
    dataset: Dataset,
    *,
    run_id: str,
    arms: Sequence[Arm],
    n_cases: int,
    n_planned: int,
    case_ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    argv: Sequence[str] | None = None,
    started: float | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """The provenance every run folder records (status ``running`` until finished)."""
    spec = suite.spec
    started = time.time() if started is None else started
    return {
        "schema_version": 1,
        "run_id": run_id,
        "status": "running",
        "suite_name": suite.name,
        "suite_hash": suite.hash,
        "suite_path": str(suite.path) if suite.path else None,
        "suite": redact(spec.model_dump(mode="json")),
        "kind": spec.kind,
        "dataset": dataset.identity(),
        "target": target or spec.target,
        "model": spec.model,
        "judge_model": spec.judge_model,
        "params": redact(dict(spec.params)),
        "arms": {a.name: redact(dict(a.params)) for a in arms},
        "trials": spec.trials,
        "seed": spec.seed,
        "concurrency": spec.concurrency,
        "timeout_s": spec.timeout_s,
        "selection": {
            "cases": list(case_ids or spec.cases or []),
            "tags": list(tags or spec.tags or []),
        },
        "n_cases": n_cases,
        "planned_trials": n_planned,
        "evalkit_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _packages(),
        "git": _git_info(Path.cwd()),
        "argv": list(argv) if argv is not None else None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "resumed": [],
    }


def finish_manifest(
    manifest: dict[str, Any], tables: RunTables | TableWriter, started: float
) -> None:
    """Fill in timings, counts and reported versions once trials are done."""
    finished = time.time()
    manifest["duration_s"] = round(manifest.get("duration_s", 0.0) + (finished - started), 3)
    manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished))
    if isinstance(tables, TableWriter):
        manifest["counts"] = dict(tables.status_counts)
        manifest["versions"] = tables.versions
    else:
        manifest["counts"] = _status_counts(tables)
        manifest["versions"] = _versions(tables)


def _truncate_partial_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(cut)


def _status_counts(tables: RunTables) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in tables.trials:
        counts[row[4]] = counts.get(row[4], 0) + 1
    return counts


def _versions(tables: RunTables) -> dict[str, Any]:
    """Prompt/model versions reported by the target: component -> {version: trials}."""
    import json

    seen: dict[str, dict[str, Any]] = {}
    for row in tables.trials:
        if not row[20]:
            continue
        for comp, info in json.loads(row[20]).items():
            key = info.get("version", "?")
            entry = seen.setdefault(comp, {}).setdefault(
                key, {"trials": 0, "hash": info.get("hash")}
            )
            entry["trials"] += 1
    return seen
