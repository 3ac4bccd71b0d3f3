from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import ConfigError, RunFolderError, TargetImportError
from evalkit.runner import Arm, run_suite, trial_seed
from evalkit.suite import load_suite


def _run(path: Path, **kw):
    return run_suite(load_suite(path), **kw).open()


def test_statuses_and_scores(make_suite) -> None:
    run = _run(make_suite())
    assert len(run.trials) == 12 and set(run.trials.status) == {"ok"}
    assert run.scores.passed.all() and len(run.scores) == 12
    assert run.manifest["status"] == "complete"
    assert run.manifest["dataset"]["n_cases"] == 6
    assert run.manifest["rows"] == {"trials": 12, "scores": 12, "spans": 0}


def test_seeds_distinct_reproducible_and_shared_across_arms(make_suite) -> None:
    path = make_suite(trials=3)
    a = _run(path, out_dir="reports/a")
    b = _run(path, out_dir="reports/b", arms=[Arm("baseline", {}), Arm("candidate", {"x": 1})])
    seeds = a.trials.set_index(["case_id", "trial"]).seed
    assert seeds.is_unique and len(seeds) == 18
    assert seeds.loc[("c2", 1)] == trial_seed(1, "c2", 1)
    for arm in ("baseline", "candidate"):
        arm_seeds = b.trials[b.trials.arm == arm].set_index(["case_id", "trial"]).seed
        assert (arm_seeds.sort_index() == seeds.sort_index()).all()
    outputs = [json.loads(o)["seed"] for o in a.trials.output]
    assert outputs == list(a.trials.seed)


def test_noisy_target_reproduces_under_same_seed(make_suite) -> None:
    path = make_suite(target="ek_test_targets:noisy", trials=5)
    one = _run(path, out_dir="reports/one").trials.output.tolist()
    two = _run(path, out_dir="reports/two").trials.output.tolist()
    assert one == two and len(set(one)) > 1


def test_exception_becomes_error_with_type_and_message(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:boom"))
    assert set(run.trials.status) == {"error"}
    row = run.trials.iloc[0]
    assert row.error_type == "ValueError" and row.error_message.startswith("bad input in c")
    assert row.attempts == 1 and len(run.scores) == 0


def test_timeout_status(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:slow", timeout_s=0.05, trials=1,
                          params={"sleep": 2}))
    assert set(run.trials.status) == {"timeout"}
    assert "timeout_s=0.05" in run.trials.iloc[0].error_message


def test_transient_errors_are_retried_then_succeed(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:flaky", params={"fail_times": 1}))
    assert set(run.trials.status) == {"ok"} and set(run.trials.attempts) == {2}


def test_persistent_transient_becomes_infra_error(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:always_transient", trials=1))
    assert set(run.trials.status) == {"infra_error"}
    assert set(run.trials.attempts) == {3}
    assert "gave up after 3 attempts" in run.trials.iloc[0].error_message


def test_non_transient_is_never_retried(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:bad_request", trials=1))
    assert set(run.trials.status) == {"error"} and set(run.trials.attempts) == {1}


def test_unserialisable_output_is_an_error(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:not_json", trials=1))
    assert set(run.trials.error_type) == {"OutputNotSerializable"}


def test_sync_target_runs_in_worker_thread(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:sync_echo", trials=1))
    threads = {json.loads(o)["thread"] for o in run.trials.output}
    assert all(t.startswith("evalkit-target") for t in threads)


def test_spans_tool_errors_and_usage(make_suite) -> None:
    run = _run(make_suite(target="ek_test_targets:with_tools", trials=1,
                          params={"fail_last": True}))
    t = run.trials
    assert set(t.tool_calls) == {3} and set(t.tool_errors) == {1} and set(t.llm_calls) == {1}
    assert set(t.input_tokens) == {10} and t.cost_usd.sum() == pytest.approx(0.006)
    spans = run.spans
    assert len(spans) == 6 * 4
    tools = spans[spans.operation == "execute_tool"]
    assert (tools.status == "ERROR").sum() == 6
    assert set(tools[tools.status == "ERROR"].error_type) == {"Unavailable"}
    args = json.loads(json.loads(tools.iloc[0].attributes)["gen_ai.tool.call.arguments"])
    assert set(args) == {"q", "i"}
    per_trial = spans.groupby(["case_id", "trial"]).trace_id.nunique()
    assert (per_trial == 1).all()


def test_case_and_tag_selection(make_suite) -> None:
    path = make_suite()
    assert set(_run(path, out_dir="r1", case_ids=["c1", "c2"]).trials.case_id) == {"c1", "c2"}
    assert set(_run(path, out_dir="r2", tags=["edge"]).trials.case_id) == {"c0", "c3"}
    with pytest.raises(ConfigError, match="no cases selected"):
        run_suite(load_suite(path), out_dir="r3", tags=["nope"])


def test_bad_target_reference(make_suite) -> None:
    with pytest.raises(TargetImportError, match="has no attribute 'nope'"):
        run_suite(load_suite(make_suite(target="ek_test_targets:nope")))
    with pytest.raises(TargetImportError, match="not found"):
        run_suite(load_suite(make_suite(target="no_such_module:x")))


def test_out_dir_holding_a_run_is_refused(make_suite) -> None:
    path = make_suite()
    run_suite(load_suite(path), out_dir="reports/same")
    with pytest.raises(RunFolderError, match="already holds a run"):
        run_suite(load_suite(path), out_dir="reports/same")


def test_secrets_are_redacted_from_manifest(make_suite) -> None:
    run = _run(make_suite(params={"api_key": "sk-secret", "nested": {"auth_token": "t0k"}}))
    text = (run.path / "manifest.json").read_text()
    assert "sk-secret" not in text and "t0k" not in text


def test_concurrency_is_bounded(make_suite, project: Path) -> None:
    # 6 cases x 2 trials sleeping 0.2 s at concurrency 4 -> at least 3 waves
    import time

    path = make_suite(target="ek_test_targets:logged", concurrency=4,
                      params={"log": str(project / "calls.log"), "sleep": 0.2})
    t0 = time.perf_counter()
    run_suite(load_suite(path))
    assert time.perf_counter() - t0 >= 0.55
    assert len((project / "calls.log").read_text().splitlines()) == 12


def test_plan_is_lazy_interleaved_and_skips_done() -> None:
    from evalkit.dataset import Case
    from evalkit.runner._engine import plan_trials

    cases = [Case.model_validate({"id": f"c{i}", "input": {}, "expected": {}}) for i in range(3)]
    arms = [Arm("a", {}), Arm("b", {"x": 1})]
    params = {"a": {}, "b": {"x": 1}}
    plan = plan_trials(cases, 2, arms, params, {"c1": "k"})
    items = list(plan)
    assert len(plan) == len(items) == 12
    assert [(p.case.id, p.trial, p.arm) for p in items[:4]] == [
        ("c0", 0, "a"), ("c0", 0, "b"), ("c0", 1, "a"), ("c0", 1, "b")]
    assert items[4].cluster == "k" and items[1].params == {"x": 1}
    done = {("a", "c0", 0), ("b", "c2", 1)}
    rest = plan_trials(cases, 2, arms, params, {}, done)
    assert len(rest) == 10 and len(list(rest)) == 10
    assert not any((p.arm, p.case.id, p.trial) in done for p in rest)
    assert not plan_trials(cases, 1, arms[:1], params, {}, {("a", c.id, 0) for c in cases})


def test_tracer_is_created_only_when_used() -> None:
    from evalkit.runner import TrialContext

    ctx = TrialContext(trial=1, seed=2, params={}, case_id="c", arm="main")
    assert ctx._tracer is None
    tracer = ctx.tracer
    assert ctx.tracer is tracer and tracer._base == ("c", 1, "main")


def test_scorer_overriding_finish_is_honoured(make_suite, monkeypatch) -> None:
    # the engine stores base-class results as tuples without a ScoreRow; a scorer
    # with its own finish() still gets it called
    from dataclasses import replace

    from evalkit.scorer import Score, Scorer
    from evalkit.scorer._base import _REGISTRY

    class Tagged(Scorer):
        def check(self, view):
            return Score(1.0, "fine", details={"n": view.trial})

        def finish(self, raw):
            return replace(super().finish(raw), reason="finished: " + raw.reason)

    class Awaitable:
        def __await__(self):
            yield from ()
            return Score(0.25, "awaited")

    class Later(Scorer):
        def check(self, view):  # not a coroutine function, returns an awaitable
            return Awaitable()

    monkeypatch.setitem(_REGISTRY, "ek_tagged", Tagged)
    monkeypatch.setitem(_REGISTRY, "ek_later", Later)
    run = _run(make_suite(scorers=[{"type": "ek_tagged"}, {"type": "ek_later", "threshold": 0.2},
                                   {"type": "equals", "actual": "output.answer",
                                    "expected": "expected.answer", "negate": True}]))
    scores = run.scores.set_index("scorer")
    assert set(scores.loc["ek_tagged"].reason) == {"finished: fine"}
    assert {json.loads(d)["n"] for d in scores.loc["ek_tagged"].details} == {0, 1}
    assert set(scores.loc["ek_later"].value) == {0.25} and scores.loc["ek_later"].passed.all()
    eq = scores.loc["equals"]
    assert set(eq.value) == {0.0} and not eq.passed.any()
    assert all(r.startswith("not: output.answer equals") for r in eq.reason)


def test_git_info_reads_sha_and_dirty(tmp_path: Path) -> None:
    import subprocess

    from evalkit.runner._runner import _git_info

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    assert _git_info(tmp_path) == {"sha": None, "dirty": None}  # not a repository
    git("init", "-q")
    assert _git_info(tmp_path) == {"sha": None, "dirty": None}  # no commit yet
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    sha = git("rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("x")
    assert _git_info(tmp_path) == {"sha": sha, "dirty": False}
    (tmp_path / "a.txt").write_text("2")
    assert _git_info(tmp_path) == {"sha": sha, "dirty": True}


def test_package_versions_match_importlib() -> None:
    from importlib.metadata import PackageNotFoundError, version

    from evalkit.runner._runner import _PACKAGES, _dist_version, _packages

    expected = {}
    for name in _PACKAGES:
        try:
            expected[name] = version(name)
        except PackageNotFoundError:
            assert _dist_version(name) is None
    assert _packages() == expected and "pydantic" in expected
    _packages()["pydantic"] = "changed"  # a copy: the cached versions stay intact
    assert _packages() == expected


def test_gc_threshold_is_raised_for_the_run_and_restored() -> None:
    import asyncio
    import gc

    from evalkit.dataset import Case
    from evalkit.results import RunTables
    from evalkit.runner import RetryPolicy
    from evalkit.runner._engine import Engine, Progress, plan_trials

    seen = []

    async def target(case, ctx):
        seen.append(gc.get_threshold())
        if case.id == "c1":
            gc.set_threshold(1234, 5, 5)  # someone else's change is left alone
        return {}

    cases = [Case.model_validate({"id": f"c{i}", "input": {}}) for i in range(2)]
    before = gc.get_threshold()
    try:
        for ids, after in ((["c0"], before), (["c0", "c1"], (1234, 5, 5))):
            plan = plan_trials([c for c in cases if c.id in ids], 1, [Arm()], {"main": {}}, {})
            engine = Engine(target=target, scorers=[], master_seed=1, timeout_s=5,
                            concurrency=1, retry=RetryPolicy(), tables=RunTables(),
                            journal=None, progress=Progress(total=len(plan)))
            asyncio.run(engine.run(plan))
            assert gc.get_threshold() == after
            gc.set_threshold(*before)
        assert seen[0][0] >= 10_000 and seen[0][1:] == before[1:]
    finally:
        gc.set_threshold(*before)
