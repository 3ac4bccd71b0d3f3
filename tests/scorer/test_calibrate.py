import asyncio
import json
import math

import numpy as np
import pytest

from evalkit.dataset import load_dataset
from evalkit.errors import DatasetError, StatsError
from evalkit.model import ChatResult
from evalkit.scorer import Judge, rogan_gladen
from evalkit.scorer._calibrate import (
    agreement_stats,
    bootstrap_tables,
    calibrate,
    calibration_status,
    calibration_summary,
    cohens_kappa,
    confusion_matrix,
    corrected_pass_rate,
    krippendorff_alpha_nominal,
    load_calibration,
    save_calibration,
)
from evalkit.scorer._judge_spec import judge_spec_from_dict

CATS = ["correct", "partial", "incorrect"]

# -- κ and α against reference implementations ------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_kappa_matches_statsmodels(seed):
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    rng = np.random.default_rng(seed)
    human = rng.choice(CATS, size=60, p=[0.5, 0.15, 0.35])
    judge = np.where(rng.random(60) < 0.6, human, rng.choice(CATS, size=60))
    table = confusion_matrix(list(human), list(judge), CATS)
    assert cohens_kappa(table) == pytest.approx(sm_kappa(table).kappa, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_alpha_matches_krippendorff_package(seed):
    import krippendorff

    rng = np.random.default_rng(100 + seed)
    human = rng.integers(0, 3, size=50)
    judge = np.where(rng.random(50) < 0.5, human, rng.integers(0, 3, size=50))
    table = confusion_matrix([CATS[i] for i in human], [CATS[i] for i in judge], CATS)
    reference = krippendorff.alpha(reliability_data=np.vstack([human, judge]).astype(float),
                                   level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(table) == pytest.approx(reference, abs=1e-12)


def test_hand_computed_binary_agreement():
    # tp 3, fn 1, fp 2, tn 4: po = 0.7, pe = (4·5 + 6·5)/100 = 0.5, κ = 0.4
    human = ["correct"] * 4 + ["incorrect"] * 6
    judge = ["correct", "correct", "correct", "incorrect", "incorrect", "incorrect",
             "incorrect", "incorrect", "correct", "correct"]
    stats = agreement_stats(human, judge, categories=["correct", "incorrect"],
                            positive=["correct"], n_boot=500, seed=1)
    assert stats["kappa"].estimate == pytest.approx(0.4)
    # α = 1 − (N−1)·D / (N² − Σn_c²) with N = 20, D = 6, n = (9, 11): 1 − 19·6/198
    assert stats["alpha"].estimate == pytest.approx(1 - 19 * 6 / 198)
    assert stats["sensitivity"].estimate == 0.75
    assert stats["sensitivity"].n == 4
    assert stats["specificity"].estimate == pytest.approx(4 / 6)
    assert stats["specificity"].n == 6
    assert stats["accuracy"].estimate == 0.7
    assert stats["binary_confusion"] == {"tp": 3, "fn": 1, "fp": 2, "tn": 4}
    assert stats["confusion"]["matrix"] == [[3, 1], [2, 4]]
    kappa = stats["kappa"]
    assert kappa.ci_low <= kappa.estimate <= kappa.ci_high


def test_wilson_intervals_for_q0_q1():
    from evalkit.stats import wilson_interval

    human = ["correct"] * 20 + ["incorrect"] * 10
    judge = ["correct"] * 17 + ["incorrect"] * 3 + ["incorrect"] * 10
    stats = agreement_stats(human, judge, categories=["correct", "incorrect"],
                            positive=["correct"], n_boot=200)
    q1 = stats["sensitivity"]
    expected = wilson_interval(17, 20)
    assert (q1.ci_low, q1.ci_high) == pytest.approx((expected.low, expected.high))
    assert round(q1.ci_low, 3) == 0.64
    assert round(q1.ci_high, 3) == 0.948


def test_bootstrap_is_seeded_and_resamples_units():
    table = np.array([[10, 2], [3, 15]])
    a = bootstrap_tables(table, n_boot=300, seed=5)
    b = bootstrap_tables(table, n_boot=300, seed=5)
    c = bootstrap_tables(table, n_boot=300, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a.sum(axis=(1, 2)) == 30).all()
    assert a.mean(axis=0) == pytest.approx(table, abs=0.6)


def test_degenerate_kappa_is_nan_not_a_crash():
    stats = agreement_stats(["correct"] * 5, ["correct"] * 5, categories=CATS,
                            positive=["correct"], n_boot=50)
    assert math.isnan(stats["kappa"].estimate)
    assert stats["kappa"].to_dict()["estimate"] is None
    assert math.isnan(stats["specificity"].estimate)  # no human negatives


# -- Rogan–Gladen -----------------------------------------------------------------------


def test_rogan_gladen_hand_computed():
    rg = rogan_gladen(0.6, 100, q0=0.9, q1=0.8, m0=50, m1=50)
    theta = (0.6 + 0.9 - 1) / (0.9 + 0.8 - 1)
    assert rg.theta == pytest.approx(0.5 / 0.7)
    var = (0.6 * 0.4 / 100 + (1 - theta) ** 2 * 0.9 * 0.1 / 50
           + theta ** 2 * 0.8 * 0.2 / 50) / 0.7 ** 2
    assert rg.variance == pytest.approx(var)
    assert rg.variance == pytest.approx(0.0085297792, rel=1e-7)
    low, high = rg.interval()
    assert low == pytest.approx(theta - 1.959964 * math.sqrt(var), rel=1e-5)
    assert high == pytest.approx(theta + 1.959964 * math.sqrt(var), rel=1e-5)


def test_rogan_gladen_perfect_judge_is_identity():
    rg = rogan_gladen(0.35, 200, q0=1.0, q1=1.0, m0=40, m1=40)
    assert rg.theta == pytest.approx(0.35)
    assert rg.variance == pytest.approx(0.35 * 0.65 / 200)


@pytest.mark.parametrize(("q0", "q1"), [(0.5, 0.5), (0.4, 0.3), (0.6, 0.4)])
def test_rogan_gladen_needs_better_than_chance(q0, q1):
    with pytest.raises(StatsError, match="q0 \\+ q1 > 1"):
        rogan_gladen(0.5, 10, q0, q1, 10, 10)


# -- running a calibration with a scripted judge ------------------------------------------


class KeywordJudge:
    """Says correct when the answer contains 'right', else incorrect; 'crash' is unparseable."""

    async def chat(self, messages, **kwargs):
        answer = messages[1]["content"].split("Answer to grade:\n")[1]
        if "crash" in answer:
            text = "no json here"
        else:
            v = "correct" if "right" in answer else "incorrect"
            text = json.dumps({"reasoning": "r", "verdict": v})
        return ChatResult(text=text, parsed=None, model="kw", input_tokens=1, output_tokens=1,
                          latency_s=0.0, cost_usd=0.0, cached=False, finish_reason="stop")


def _labels(tmp_path, rows):
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "dataset.yaml").write_text("name: labels\nversion: 1.0.0\n")
    with (folder / "cases.jsonl").open("w") as fh:
        for i, (answer, verdict) in enumerate(rows):
            fh.write(json.dumps({"id": f"r{i}", "input": {"question": "q", "answer": answer},
                                 "expected": {"verdict": verdict, "reference": "ref"}}) + "\n")
    return load_dataset(folder)


SPEC = judge_spec_from_dict({
    "name": "kw", "rubric": "r", "verdicts": {"correct": 1, "partial": 0.5, "incorrect": 0},
    "threshold": 1.0, "question": "input.question", "reference": "expected.reference"})


def test_calibrate_end_to_end_with_scripted_judge(tmp_path):
    rows = [("right", "correct")] * 6 + [("wrong", "correct")] * 2 + \
           [("wrong", "incorrect")] * 5 + [("right", "incorrect")] + \
           [("wrong", "partial")] * 2 + [("crash", "correct")]
    dataset = _labels(tmp_path, rows)
    judge = Judge(SPEC, "kw-model", client=KeywordJudge())
    seen: list[int] = []
    record = asyncio.run(calibrate(judge, dataset, n_boot=300,
                                   progress=lambda done, total: seen.append(done)))
    assert seen[-1] == 17
    assert record["n"] == 16
    assert record["n_errors"] == 1
    assert record["spec_hash"] == SPEC.hash
    assert record["model"] == "kw-model"
    assert record["positive"] == ["correct"]
    # binary: human positives 8 (tp 6, fn 2); negatives 8 (fp 1, tn 7)
    assert record["binary_confusion"] == {"tp": 6, "fn": 2, "fp": 1, "tn": 7}
    m = record["metrics"]
    assert m["sensitivity"]["estimate"] == 0.75
    assert m["specificity"]["estimate"] == 7 / 8
    assert m["accuracy"]["estimate"] == pytest.approx(11 / 16)  # partial never matched
    assert record["labels"]["name"] == "labels"
    assert record["labels"]["n"] == 17
    errors = [r for r in record["rows"] if r["error"]]
    assert len(errors) == 1
    assert "does not parse" in errors[0]["error"]

    path = save_calibration(record, tmp_path / "cal")
    assert path.name == SPEC.hash.removeprefix("sha256:") + ".json"
    assert load_calibration(SPEC.hash, "kw-model", tmp_path / "cal")["n"] == 16
    assert load_calibration(SPEC.hash, "other", tmp_path / "cal") is None
    assert load_calibration(SPEC.hash, root=tmp_path / "cal")["model"] == "kw-model"
    other = {**record, "model": "second"}
    save_calibration(other, tmp_path / "cal")
    doc = json.loads(path.read_text())
    assert sorted(doc["by_model"]) == ["kw-model", "second"]

    rg = corrected_pass_rate(0.5, 100, record)
    assert rg.theta == pytest.approx((0.5 + 7 / 8 - 1) / (7 / 8 + 0.75 - 1))
    summary = calibration_summary(SPEC.hash, "kw-model", tmp_path / "cal")
    assert summary["status"] in {"ok", "weak"}
    assert summary["n"] == 16


def test_calibrate_rejects_unknown_label(tmp_path):
    dataset = _labels(tmp_path, [("right", "correct"), ("x", "maybe")])
    judge = Judge(SPEC, "m", client=KeywordJudge())
    with pytest.raises(DatasetError, match="verdict 'maybe' is not one of the judge's verdicts"):
        asyncio.run(calibrate(judge, dataset))


def test_calibration_status_messages():
    assert calibration_status(None)[0] == "missing"
    weak = {"metrics": {"kappa": {"estimate": 0.41}}, "n": 80}
    assert calibration_status(weak) == ("weak", "calibration weak (κ = 0.41 < 0.6)")
    ok = {"metrics": {"kappa": {"estimate": 0.72}}, "n": 80}
    assert calibration_status(ok) == ("ok", "calibrated (κ = 0.72, n = 80)")
    assert calibration_status({"metrics": {"kappa": {"estimate": None}}})[0] == "weak"


def test_shipped_labels_dataset_is_valid_and_balanced():
    from collections import Counter
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dataset = load_dataset(root / "datasets" / "pydocs_judge_labels")
    assert dataset.version == "1.0.0"
    assert len(dataset) >= 80
    verdicts = Counter(c.expected["verdict"] for c in dataset.cases)
    assert 0.4 <= verdicts["correct"] / len(dataset) <= 0.6
    assert verdicts["partial"] >= 5
    tags = Counter(t for c in dataset.cases for t in c.tags)
    assert tags["verbose"] >= 5
    assert tags["terse"] >= 10
    assert tags["subtle"] >= 10
