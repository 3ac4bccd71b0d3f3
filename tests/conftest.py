"""Shared fixtures: a throwaway project folder with datasets, suites and targets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ek_fixtures import TARGETS, write_dataset


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp project: datasets/mini (6 cases), suites/ with ek_test_targets.py; cwd set to it."""
    write_dataset(tmp_path)
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "ek_test_targets.py").write_text(TARGETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(suites))
    return tmp_path


@pytest.fixture
def make_suite(project: Path) -> Callable[..., Path]:
    """Write suites/<name>.yaml from keyword overrides and return its path."""

    def make(name: str = "t", **overrides: Any) -> Path:
        spec: dict[str, Any] = {
            "name": name,
            "dataset": "mini",
            "target": "ek_test_targets:echo",
            "trials": 2,
            "seed": 1,
            "concurrency": 4,
            "timeout_s": 5,
            "retry": {"max_attempts": 3, "base_delay_s": 0.0, "max_delay_s": 0.01},
            "scorers": [
                {"type": "equals", "actual": "output.answer", "expected": "expected.answer"}
            ],
        }
        spec.update(overrides)
        path = project / "suites" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return make
