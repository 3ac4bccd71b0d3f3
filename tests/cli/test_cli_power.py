"""``evalkit power --from RUN``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stats"))
from statsim import beta_rates, make_run, make_two_arm, write_run_folder

from evalkit._cli.main import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_power_from_a_single_run(tmp_path):
    rng = np.random.default_rng(0)
    t, s = make_run(beta_rates(rng, 200, 0.8, 2), 5, rng=rng)
    run = write_run_folder(tmp_path / "run", t, s)
    result = invoke("power", "--from", str(run), "--mde", "0.05", "--format", "json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.output)
    needed = p["cases_needed"]
    assert set(needed) == {"1", "3", "5", "10"}
    assert needed["1"] > needed["3"] > needed["5"] > needed["10"]
    assert p["unpaired_cases_needed_k1"] > needed["1"]
    assert "assumed arm correlation 0.8" in p["components"]["basis"]
    assert p["current"]["n_cases"] == 200
    text = invoke("power", "--from", str(run), "--mde", "0.05")
    assert "cases needed" in text.output
    assert "this run (200 cases, K=5)" in text.output


def test_power_from_a_paired_run_measures_the_components(tmp_path):
    rng = np.random.default_rng(1)
    r = beta_rates(rng, 100, 0.8, 3)
    t, s = make_two_arm(r, r, 3, seed=1)
    run = write_run_folder(tmp_path / "run", t, s)
    result = invoke("power", "--from", str(run), "--mde", "0.1", "-K", "2", "-K", "4",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.output)
    assert p["components"]["basis"] == "measured on the paired run"
    assert set(p["cases_needed"]) == {"2", "4"}


def test_power_bad_input(tmp_path):
    t, s = make_run([1.0, 0.0] * 5, 2)
    run = write_run_folder(tmp_path / "run", t, s)
    bad = invoke("power", "--from", str(run), "--mde", "0.05", "--metric", "latency")
    assert bad.exit_code == 2
    assert "--metric" in bad.output
    zero = invoke("power", "--from", str(run), "--mde", "0")
    assert zero.exit_code == 2
