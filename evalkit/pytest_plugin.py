"""evalkit's pytest plugin (registered through the ``pytest11`` entry point).

Turns a test function into an eval over a dataset::

    @pytest.mark.evalkit(dataset="demo_capitals@1.0.0", trials=5,
                         scorers=[{"type": "equals", "actual": "output.answer",
                                   "expected": "expected.answer"}],
                         gate={"thresholds": {"completion_rate": {"min": 0.8}},
                               "per_case": {"min_passes": 3, "of": 5}})
    async def test_capitals(case, ctx):
        return await my_agent(case.input, seed=ctx.seed)

or ``@pytest.mark.evalkit(suite="suites/demo.yaml")`` to take dataset, trials, params,
scorers and gate from a suite file. Each case is a pytest item (``-k``, ``-x``,
``--lf`` and xdist work); its K trials run inside the item with the runner's
concurrency, and the item fails when the case fails its k-of-n rule. Results are
collected during the session, written as a normal run folder, and the statistics
and gate run once at the end: a gate FAIL fails the session.

This module imports only pytest and the standard library at top level (everything
else inside hooks), so installing evalkit costs nothing in sessions that do not use it.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evalkit._options import add_pytest_options

MARKER = "evalkit"
_SUITE_KEYS = frozenset({
    "dataset", "trials", "scorers", "gate", "params", "seed", "concurrency", "timeout_s",
    "model", "judge_model", "kind", "retry", "faults", "cache", "description",
})


@dataclass
class _Eval:
    """One evalkit-marked test function and what its cases produced."""

    name: str
    nodeid: str
    suite: Any  # evalkit.suite.Suite
    dataset: Any  # evalkit.dataset.Dataset
    scorers: list[Any]
    tags: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    trials: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)
    started: float = field(default_factory=time.time)


@dataclass
class _Outcome:
    """What the session-end analysis produced for one eval (printed in the summary)."""

    name: str
    run_dir: str
    verdict: str | None
    lines: list[str]
    failed: bool


@dataclass
class _State:
    evals: dict[str, _Eval] = field(default_factory=dict)
    shipped: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[_Outcome] = field(default_factory=list)


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--evalkit-trials`` and friends, from the definitions the CLI uses too."""
    group = parser.getgroup("evalkit", "evalkit evals")
    add_pytest_options(group, "trials", "seed", "model", "judge_model", "param", "baseline",
                       "report", "gate")
    group.addoption("--evalkit-out", dest="evalkit_out", default="reports", metavar="DIR",
                    help="Where run folders are written (default: reports/).")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, the session state and (under xdist) the merge hook."""
    config.addinivalue_line(
        "markers",
        "evalkit(suite=None, dataset=None, trials=None, scorers=None, gate=None, params=None, "
        "seed=0, name=None, ...): run this test as an eval over a dataset; it receives "
        "`case` (and optionally `ctx`) and returns the output.",
    )
    config.stash[_STATE] = _State()
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(config), "evalkit-xdist-controller")


def _eval_config(definition: Any, config: pytest.Config) -> _Eval:
    """Build (once per function) the suite, dataset and scorers of a marked test."""
    from evalkit.scorer import ScorerEnv, build_scorers
    from evalkit.suite import load_suite, parse_override, suite_from_dict

    state = config.stash[_STATE]
    nodeid = definition.nodeid.split("[", 1)[0]
    if nodeid in state.evals:
        return state.evals[nodeid]
    marker = definition.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs)
    fn = definition.obj
    name = str(kwargs.pop("name", None) or fn.__name__)
    unknown = set(kwargs) - _SUITE_KEYS - {"suite", "tags", "cases"}
    if unknown:
        raise pytest.UsageError(
            f"{nodeid}: unknown evalkit marker argument(s) {sorted(unknown)}; "
            f"expected some of {sorted(_SUITE_KEYS | {'suite', 'name', 'tags', 'cases'})}")
    opts = config.option
    overrides = {"trials": opts.evalkit_trials, "seed": opts.evalkit_seed,
                 "model": opts.evalkit_model, "judge_model": opts.evalkit_judge_model}
    params = [parse_override(p) for p in opts.evalkit_param or ()]
    target_ref = f"{fn.__module__}:{fn.__qualname__}".replace("<locals>.", "")
    root = Path(str(config.rootpath))
    suite_file = kwargs.pop("suite", None)
    if suite_file is not None:
        path = Path(suite_file)
        if not path.is_absolute():
            path = root / path
        suite = load_suite(path, overrides={**{k: v for k, v in kwargs.items()
                                               if k in _SUITE_KEYS}, **overrides}, params=params)
    else:
        if "dataset" not in kwargs:
            raise pytest.UsageError(f"{nodeid}: @pytest.mark.evalkit needs dataset= or suite=")
        raw = {"name": name, "target": target_ref, **{k: v for k, v in kwargs.items()
                                                       if k in _SUITE_KEYS}}
        suite = suite_from_dict(raw, path=root / "suites" / f"{name}.yaml",
                                overrides=overrides, params=params)
    dataset = _resolve_dataset(suite, root)
    env = ScorerEnv(judge_model=suite.spec.judge_model, model_under_test=suite.spec.model)
    scorers = build_scorers(suite.spec.scorers, env=env, path=nodeid)
    ev = _Eval(name=name if suite_file is None else suite.name, nodeid=nodeid, suite=suite,
               dataset=dataset, scorers=scorers,
               tags=list(kwargs.get("tags") or suite.spec.tags),
               cases=list(kwargs.get("cases") or suite.spec.cases))
    state.evals[nodeid] = ev
    return ev


def _resolve_dataset(suite: Any, root: Path) -> Any:
    from evalkit.dataset import load_dataset, resolve_pin

    ref = suite.spec.dataset
    folder = Path(ref) if Path(ref).is_absolute() else root / ref
    if folder.is_dir() and (folder / "dataset.yaml").is_file():
        return load_dataset(folder)
    return resolve_pin(ref, suite.datasets_root() if suite.path and
                       suite.datasets_root().is_dir() else root / "datasets")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One item per case of the eval's dataset."""
    if metafunc.definition.get_closest_marker(MARKER) is None:
        return
    if "case" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: an evalkit test takes a `case` argument")
    from evalkit.errors import EvalkitError

    try:
        ev = _eval_config(metafunc.definition, metafunc.config)
        cases = ev.dataset.select(ids=ev.cases or None, tags=ev.tags or None)
    except EvalkitError as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    if "ctx" in metafunc.fixturenames:
        metafunc.parametrize(("case", "ctx"), [(c, None) for c in cases],
                             ids=[c.id for c in cases])
    else:
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run the case's K trials (instead of one call) and apply its k-of-n rule."""
    if pyfuncitem.get_closest_marker(MARKER) is None:
        return None
    from evalkit.runner import SharedModel, run_trials

    ev = _eval_config(pyfuncitem, pyfuncitem.config)
    fn = pyfuncitem.obj
    funcargs = pyfuncitem.funcargs
    case: Any = funcargs["case"]
    names = [p for p in inspect.signature(fn).parameters if p in funcargs]
    fixtures = {n: funcargs[n] for n in names if n not in ("case", "ctx")}
    wants_ctx = "ctx" in names
    is_async = inspect.iscoroutinefunction(fn)

    if is_async:
        async def target(case: Any, ctx: Any) -> Any:
            return await (fn(case=case, ctx=ctx, **fixtures) if wants_ctx
                          else fn(case=case, **fixtures))
    else:
        def target(case: Any, ctx: Any) -> Any:  # type: ignore[misc]
            return fn(case=case, ctx=ctx, **fixtures) if wants_ctx else fn(case=case, **fixtures)

    spec = ev.suite.spec
    tables = run_trials(target, [case], suite=ev.suite, dataset=ev.dataset, scorers=ev.scorers,
                        model_factory=SharedModel(spec.model, None, spec.cache))
    ev.trials.extend(tables.trials)
    ev.scores.extend(tables.scores)
    ev.spans.extend(tables.spans)
    failure = _case_failure(ev, case.id, tables)
    if failure:
        pytest.fail(failure, pytrace=False)
    return True


def _case_failure(ev: _Eval, case_id: str, tables: Any) -> str | None:
    """Why a case fails its k-of-n rule (None when it passes)."""
    gate = ev.suite.spec.gate or {}
    rule = gate.get("per_case") or {}
    k_trials = len(tables.trials)
    if rule:
        needed = math.ceil(rule["min_passes"] / rule["of"] * k_trials - 1e-9)
        rule_text = f"{rule['min_passes']} of {rule['of']}"
    else:
        needed, rule_text = 1, "at least one trial"
    missing = str(gate.get("missing", "fail"))
    completed, counted, reasons = 0, 0, []
    by_trial: dict[int, list[tuple[Any, ...]]] = {}
    for row in tables.scores:
        by_trial.setdefault(row[2], []).append(row)
    completion_only = any(r[10] for r in tables.scores)
    for t in tables.trials:
        k, status = t[2], t[4]
        if status != "ok":
            if missing == "fail":
                counted += 1
                reasons.append(f"trial {k}: {status} ({t[8]}: {t[9]})")
            continue
        rows = [r for r in by_trial.get(k, []) if r[10] or not completion_only]
        if any(r[7] != "ok" for r in rows):
            continue  # scorer/judge error: undefined, not a failure
        counted += 1
        failed = [r for r in rows if not r[6]]
        if failed:
            reasons.append(f"trial {k}: {failed[0][3]}: {failed[0][8]}")
        else:
            completed += 1
    if completed >= min(needed, counted) and counted:
        return None
    if not counted:
        return f"case {case_id}: no trial could be scored"
    head = (f"case {case_id}: {completed}/{counted} trials completed, needs {needed} "
            f"({rule_text}; K={k_trials})")
    return "\n".join([head, *reasons[:5], *(["..."] if len(reasons) > 5 else [])])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write each eval's run folder, summarise, gate; a FAIL fails the session."""
    config = session.config
    state = config.stash[_STATE]
    if hasattr(config, "workerinput"):
        config.workeroutput["evalkit"] = json.dumps(  # type: ignore[attr-defined]
            {nodeid: _ship(ev) for nodeid, ev in state.evals.items() if ev.trials},
            default=str)
        return
    for nodeid, shipped in state.shipped.items():
        ev = state.evals.get(nodeid)
        if ev is None:
            ev = _unship(shipped)
            state.evals[nodeid] = ev
        else:
            ev.trials.extend(tuple(r) for r in shipped["trials"])
            ev.scores.extend(tuple(r) for r in shipped["scores"])
            ev.spans.extend(tuple(r) for r in shipped["spans"])
    failed = False
    for ev in state.evals.values():
        if not ev.trials:
            continue
        outcome = _analyse(ev, config)
        state.outcomes.append(outcome)
        failed |= outcome.failed
    if failed and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _ship(ev: _Eval) -> dict[str, Any]:
    return {"name": ev.name, "nodeid": ev.nodeid,
            "suite": ev.suite.spec.model_dump(mode="json"),
            "suite_path": str(ev.suite.path) if ev.suite.path else None,
            "dataset_path": str(ev.dataset.path), "started": ev.started,
            "trials": ev.trials, "scores": ev.scores, "spans": ev.spans}


def _unship(data: dict[str, Any]) -> _Eval:
    from evalkit.dataset import load_dataset
    from evalkit.suite import suite_from_dict

    suite = suite_from_dict(data["suite"], path=Path(data["suite_path"]) if data["suite_path"]
                            else None)
    return _Eval(name=data["name"], nodeid=data["nodeid"], suite=suite,
                 dataset=load_dataset(data["dataset_path"]), scorers=[],
                 trials=[tuple(r) for r in data["trials"]],
                 scores=[tuple(r) for r in data["scores"]],
                 spans=[tuple(r) for r in data["spans"]], started=data["started"])


class _XdistController:
    """Merges results that xdist workers send back, before the gate runs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        raw = getattr(node, "workeroutput", {}).get("evalkit")
        if not raw:
            return
        state = self.config.stash[_STATE]
        for nodeid, shipped in json.loads(raw).items():
            mine = state.shipped.setdefault(nodeid, {**shipped, "trials": [], "scores": [],
                                                     "spans": []})
            for key in ("trials", "scores", "spans"):
                mine[key].extend(shipped[key])


def _analyse(ev: _Eval, config: pytest.Config) -> _Outcome:
    from evalkit.results import RunTables, open_run, write_manifest, write_tables
    from evalkit.runner import Arm, build_manifest, finish_manifest, new_run_id
    from evalkit.stats import compare_frames, summarize_run

    run_id = new_run_id()
    run_dir = Path(config.option.evalkit_out) / ev.name / run_id
    if not run_dir.is_absolute():
        run_dir = Path(str(config.rootpath)) / run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    tables = RunTables(trials=sorted(ev.trials, key=lambda r: (r[1], r[2], r[0])),
                       scores=ev.scores, spans=ev.spans)
    n_cases = len({r[1] for r in tables.trials})
    manifest = build_manifest(ev.suite, ev.dataset, run_id=run_id, arms=[Arm("main", {})],
                              n_cases=n_cases, n_planned=len(tables.trials),
                              argv=["pytest", *config.invocation_params.args],
                              started=ev.started, target=ev.nodeid)
    manifest["pytest_nodeid"] = ev.nodeid
    finish_manifest(manifest, tables, ev.started)
    manifest["rows"] = write_tables(run_dir, run_id, tables)
    manifest["status"] = "complete"
    write_manifest(run_dir, manifest)

    run = open_run(run_dir)
    gate_raw = ev.suite.spec.gate or {}
    missing = str(gate_raw.get("missing", "fail"))
    seed = int(ev.suite.spec.seed)
    summary = summarize_run(run.trials, run.scores, arm="main", missing=missing,  # type: ignore[arg-type]
                            seed=seed)
    comparison = None
    notes: list[str] = []
    baseline = config.option.evalkit_baseline
    if baseline:
        base_dir = _find_baseline(Path(baseline), ev.name)
        base = open_run(base_dir)
        if base.dataset_hash != run.dataset_hash:
            notes.append(f"baseline {base_dir} used different data ({base.dataset_hash}); "
                         "not compared")
        else:
            comparison = compare_frames(base.trials, base.scores, run.trials, run.scores,
                                        missing=missing, seed=seed)
            notes.append(f"baseline: {base_dir} (a stored baseline can be confounded by "
                         "model/provider drift)")
    verdict, lines, failed = None, [], False
    if config.option.evalkit_gate and (gate_raw or comparison is not None):
        from evalkit.gate import evaluate_gate

        result = evaluate_gate(ev.suite.gate_spec(), summary, comparison)
        gate = result.to_dict()
        verdict = str(gate["verdict"])
        failed = int(gate.get("exit_code", 0)) != 0
        lines = _gate_lines(gate)
        (run_dir / "gate.json").write_text(json.dumps(gate, indent=2, default=str) + "\n")
    report = config.option.evalkit_report
    if report:
        try:
            from evalkit.report import write_reports
        except ImportError:
            notes.append("evalkit.report is not available: no HTML report written")
        else:
            path = Path(report)
            if len(config.stash[_STATE].evals) > 1:
                path = path.with_name(f"{path.stem}-{ev.name}{path.suffix or '.html'}")
            write_reports(run_dir, baseline=config.option.evalkit_baseline, html=path)
            notes.append(f"report: {path}")
    body = _metric_lines(summary.to_dict(), comparison.to_dict() if comparison else None)
    return _Outcome(name=ev.name, run_dir=str(run_dir), verdict=verdict,
                    lines=[*body, *lines, *notes], failed=failed)


def _find_baseline(path: Path, name: str) -> Path:
    if (path / "manifest.json").is_file():
        return path
    candidates = sorted((path / name).glob("*/manifest.json")) or sorted(
        path.glob(f"**/{name}/*/manifest.json"))
    if not candidates:
        raise pytest.UsageError(f"--evalkit-baseline {path}: no run folder of {name!r} in it")
    return candidates[-1].parent


def _fmt(m: dict[str, Any] | None) -> str:
    if not m or m.get("estimate") is None:
        return "n/a"
    est, lo, hi = m.get("estimate"), m.get("ci_low"), m.get("ci_high")
    if lo is None or hi is None:
        return f"{est:.3f}"
    return f"{est:.3f} [{lo:.3f}, {hi:.3f}]"


def _metric_lines(summary: dict[str, Any], comparison: dict[str, Any] | None) -> list[str]:
    metrics = summary.get("metrics", {})
    deltas = (comparison or {}).get("deltas", {})
    lines = [f"{summary.get('n_cases')} cases x {summary.get('trials_per_case')} trials"]
    wanted = [n for n in metrics if n in ("completion_rate", "tool_error_rate")
              or n.startswith("pass_rate:") or n in ("pass^3", "pass@3")]
    for name in wanted:
        line = f"  {name:<28} {_fmt(metrics[name])}"
        if name in deltas:
            d = deltas[name]
            p = d.get("p_value")
            line += f"   Δ {_fmt(d)}" + (f" p={p:.3g}" if isinstance(p, float) else "")
        lines.append(line)
    return lines


def _gate_lines(gate: dict[str, Any]) -> list[str]:
    lines = [f"gate: {gate.get('verdict')}"]
    for v in gate.get("violations", []) or []:
        lines.append(f"  violated: {v.get('reason', v) if isinstance(v, dict) else v}")
    for w in gate.get("warnings", []) or []:
        lines.append(f"  warning: {w.get('reason', w) if isinstance(w, dict) else w}")
    mde = gate.get("mde") or {}
    for name, m in (mde.items() if isinstance(mde, dict) else []):
        value = m.get("mde") if isinstance(m, dict) else m
        if isinstance(value, float):
            lines.append(f"  MDE {name}: {value:.3f} (smallest change this run could detect)")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The evalkit section: metrics with intervals, Δ vs baseline, MDE, violated rules."""
    state = config.stash.get(_STATE, None)
    if state is None or not state.outcomes:
        return
    tr = terminalreporter
    tr.section("evalkit")
    for out in state.outcomes:
        colour = {"PASS": {"green": True}, "FAIL": {"red": True}}.get(out.verdict or "",
                                                                        {"yellow": True})
        tr.write_line(f"{out.name}: {out.verdict or 'no gate'}  ({out.run_dir})",
                      bold=True, **(colour if out.verdict else {}))
        for line in out.lines:
            tr.write_line(line)
    if os.environ.get("EVALKIT_DEBUG"):
        tr.write_line(json.dumps([o.__dict__ for o in state.outcomes], default=str))
