"""A pipeline killed mid-way resumes from its last completed step, repeating no call."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from evalkit.reference.checkpoint import CheckpointStore, run_key

# A real process running the pipeline with a scripted model. In attempt 1 the
# Writer's model call hangs, so the process is killed after plan/search/read were
# checkpointed and before the Writer finished.
SCRIPT = textwrap.dedent('''
    import asyncio, json, os, sys, time
    sys.path.insert(0, os.environ["CONFTEST_DIR"])
    from conftest import ScriptedModel, _make_ctx
    from evalkit.dataset import Case
    from evalkit.reference.pipeline import answer_question

    class Hanging(ScriptedModel):
        async def chat(self, messages, *, schema=None, **kw):
            if schema.__name__ == "EvidenceChoice" and os.environ.get("HANG") == "1":
                time.sleep(600)
            return await super().chat(messages, schema=schema, **kw)

    ctx = _make_ctx(params={"checkpoint_dir": sys.argv[1], "verifier_llm": True},
                    model=Hanging(),
                    case_id="stmt-pass", trial=0)
    case = Case(id="stmt-pass", input={"question": "What does the pass statement do?"})
    out = asyncio.run(answer_question(case, ctx))
    print(json.dumps(out))
''')


def _steps(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT step FROM steps ORDER BY seq")]
        except sqlite3.OperationalError:
            return []


def test_resume_after_kill_repeats_no_completed_call(tmp_path):
    script = tmp_path / "run_pipeline.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "ckpt"
    db = ckpt / "checkpoints.sqlite"
    env = {**os.environ, "CONFTEST_DIR": str(Path(__file__).parent), "HANG": "1"}

    proc = subprocess.Popen([sys.executable, str(script), str(ckpt)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while "read" not in _steps(db):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the pipeline never checkpointed 'read'"
            time.sleep(0.05)
        time.sleep(0.2)  # let it enter the hanging Writer call
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert _steps(db) == ["plan", "search", "read"]

    env["HANG"] = "0"
    done = subprocess.run([sys.executable, str(script), str(ckpt)], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["outcome"] == "answered"
    assert out["resumed"] is True
    assert out["trajectory"][0] == "search_docs"
    assert "read_doc" in out["trajectory"]
    statuses = {s["step"]: s["status"] for s in out["steps"]}
    assert statuses == {"plan": "resumed", "search": "resumed", "read": "resumed",
                        "write": "ok", "verify": "ok"}

    store = CheckpointStore(db)
    calls = store.calls()
    first = [(c["step"], c["kind"], c["name"]) for c in calls if c["attempt"] == 1]
    second = [(c["step"], c["kind"], c["name"]) for c in calls if c["attempt"] == 2]
    assert ("plan", "llm", "researcher") in first
    assert {("search", "tool", "search_docs"), ("read", "tool", "read_doc")} <= set(first)
    # Nothing completed in attempt 1 ran again in attempt 2.
    assert {step for step, _, _ in second} == {"write", "verify"}
    assert ("write", "llm", "writer") in second
    assert ("verify", "llm", "verifier") in second
    # The token budget kept counting across the crash.
    assert out["usage"]["tokens"] == 60 * len([c for c in calls if c["kind"] == "llm"])


def test_a_finished_run_starts_afresh(tmp_path):
    store = CheckpointStore(tmp_path / "c.sqlite")
    key = run_key({"prompt_version": "v1"}, "c", 0, 1)
    assert store.begin(key, case_id="c", trial=0, arm="main") == (1, False)
    store.save(key, "plan", {"data": ["q"]})
    assert store.begin(key, case_id="c", trial=0, arm="main") == (2, True)
    store.finish(key)
    assert store.begin(key, case_id="c", trial=0, arm="main") == (3, False)
    assert store.load(key) == {}


def test_run_key_separates_params_trials_and_arms():
    base = run_key({"prompt_version": "v1"}, "c", 0, 1)
    assert base == run_key({"prompt_version": "v1", "checkpoint_dir": "/x"}, "c", 0, 1)
    assert base != run_key({"prompt_version": "v2"}, "c", 0, 1)
    assert base != run_key({"prompt_version": "v1"}, "c", 1, 1)
    assert base != run_key({"prompt_version": "v1"}, "c", 0, 1, arm="candidate")
