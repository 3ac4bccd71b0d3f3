"""Fixtures for the CI tests: a recording fake of GitHub's comment API, and stored runs.

The fake is a real HTTP server on 127.0.0.1 that keeps issue comments in memory, pages
them like GitHub (``Link: <…>; rel="next"``) and records every request, so the client
and the gate script are tested over real sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """State of the fake API; tests read ``requests`` and set ``fail`` / ``page_size``."""

    url: str = ""
    page_size: int = 100
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail: dict[str, tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=dict)
    """method → (status, headers, JSON body) to answer instead of doing the call."""
    next_id: int = 1000

    def add_comment(self, number: int, body: str, login: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": login},
                   "html_url": f"https://github.test/octo/evalkit/pull/{number}"
                               f"#issuecomment-{self.next_id}"}
        self.comments.setdefault(number, []).append(comment)
        return comment

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self, method: str) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.requests.append(Recorded(method, parts.path, urllib.parse.parse_qs(parts.query),
                                           {k.lower(): v for k, v in self.headers.items()}, body))
            if method in state.fail:
                status, headers, payload = state.fail[method]
                self._send(status, payload, headers)
                return
            segments = parts.path.strip("/").split("/")
            # /repos/{owner}/{repo}/issues/{n}/comments  |  /repos/{o}/{r}/issues/comments/{id}
            if len(segments) == 6 and segments[3] == "issues" and segments[5] == "comments":
                number = int(segments[4])
                if method == "GET":
                    page = int(urllib.parse.parse_qs(parts.query).get("page", ["1"])[0])
                    items = state.comments.get(number, [])
                    chunk = items[(page - 1) * state.page_size: page * state.page_size]
                    headers = {}
                    if page * state.page_size < len(items):
                        nxt = f"{state.url}{parts.path}?per_page={state.page_size}&page={page + 1}"
                        headers["Link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
                    self._send(200, chunk, headers)
                    return
                if method == "POST":
                    self._send(201, state.add_comment(number, body["body"], "github-actions[bot]"))
                    return
            if len(segments) == 6 and segments[3:5] == ["issues", "comments"] and method == "PATCH":
                cid = int(segments[5])
                for items in state.comments.values():
                    for comment in items:
                        if comment["id"] == cid:
                            comment["body"] = body["body"]
                            self._send(200, comment)
                            return
            self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fake GitHub REST API on 127.0.0.1 (random port) that records requests."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


SUITE = {
    "name": "capitals_ci",
    "dataset": "caps",
    "target": "evalkit.examples.capitals:capital_agent",
    "params": {"error_rate": 0.05, "tool_failure_rate": 0.0},
    "trials": 5,
    "seed": 3,
    "concurrency": 16,
    "timeout_s": 10,
    "scorers": [{"type": "equals", "name": "correct", "actual": "output.answer",
                 "expected": "expected.answer", "case_sensitive": False}],
    # alpha_fail 0.01 needs > 7 independent cases for an exact test to FAIL at all, so
    # the demo dataset is copied without its 5 clusters (each case its own cluster).
    "gate": {"on_inconclusive": "fail", "regression": {"completion_rate": {"margin": 0.15}}},
}


@dataclass(frozen=True)
class StoredRuns:
    """A project folder with a suite and runs made by the real runner.

    ``base`` and ``same`` are identical (error_rate 0.05, 12 cases x 5 trials): PASS.
    ``bad`` has error_rate 0.6: FAIL against ``base``. ``tiny`` (2 cases x 1 trial) cannot
    decide against itself: INCONCLUSIVE.
    """

    root: Path
    suite: Path
    base: Path
    same: Path
    bad: Path
    tiny: Path


def write_capitals_project(root: Path) -> Path:
    """datasets/caps (the demo capitals without clusters) and suites/capitals_ci.yaml."""
    src = REPO / "datasets" / "demo_capitals"
    dst = root / "datasets" / "caps"
    dst.mkdir(parents=True, exist_ok=True)
    meta = yaml.safe_load((src / "dataset.yaml").read_text())
    meta["name"] = "caps"
    meta.pop("cluster_field", None)
    (dst / "dataset.yaml").write_text(yaml.safe_dump(meta))
    cases = [json.loads(line) for line in (src / "cases.jsonl").read_text().splitlines()
             if line.strip()]
    for case in cases:
        case.pop("cluster", None)
    (dst / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    suite = root / "suites" / "capitals_ci.yaml"
    suite.parent.mkdir(exist_ok=True)
    suite.write_text(yaml.safe_dump(SUITE, sort_keys=False))
    return suite


def evalkit_run(root: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "evalkit", "run", "suites/capitals_ci.yaml", "--no-reports",
            "--format", "json", *args]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.fixture(scope="session")
def stored_runs(tmp_path_factory: pytest.TempPathFactory) -> StoredRuns:
    root = tmp_path_factory.mktemp("ci-project")
    suite = write_capitals_project(root)
    evalkit_run(root, "--out", "runs/base", "-p", "error_rate=0.05")
    evalkit_run(root, "--out", "runs/same", "-p", "error_rate=0.05")
    evalkit_run(root, "--out", "runs/bad", "-p", "error_rate=0.6")
    evalkit_run(root, "--out", "runs/tiny", "-k", "1", "--cases",
                "capital-france,capital-germany")
    runs = root / "runs"
    return StoredRuns(root, suite, runs / "base", runs / "same", runs / "bad", runs / "tiny")
