"""Everything a report shows, computed once: summaries, comparison, gate, per-case rows.

Statistics come from :mod:`evalkit.stats` and the verdict from :mod:`evalkit.gate`; this
module only loads the run(s), decides what is compared with what, and lays out per-case
rows (regressions first) and provenance for the three renderers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import EvalkitError, InputError

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.gate import GateResult, GateSpec, MdeEstimate
    from evalkit.results import RunData
    from evalkit.stats import Comparison, RunSummary

__all__ = ["CaseRow", "ProvenanceItem", "ReportData", "load_report"]

CompareMode = Literal["none", "arms", "stored"]
DEFAULT_CASE_SHARE = 0.5
"""Without a ``per_case`` rule a case passes when at least half of its trials complete."""
NON_OK = ("error", "timeout", "infra_error")


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case as the case table, the JUnit file and the Markdown list show it.

    Attributes:
        case_id: the case.
        tags: its tags.
        status: ``pass``, ``fail`` (breaks the per-case rule, or regressed) or ``n/a``
            (no trial with a defined completion).
        flip: ``regressed``, ``improved`` or ``""``.
        successes: completed trials in the candidate arm (the run's arm).
        n: trials with a defined completion in the candidate arm.
        base_successes: completed trials in the baseline arm (None without a baseline).
        base_n: defined trials in the baseline arm.
        errors: candidate trials that ended ``error``/``timeout``/``infra_error``.
        tool_errors: failed tool calls over the candidate's trials.
        latency_s: summed candidate latency (the JUnit ``time``).
        reason: why the case fails (empty when it passes).
    """

    case_id: str
    tags: tuple[str, ...]
    status: str
    flip: str
    successes: int
    n: int
    base_successes: int | None
    base_n: int | None
    errors: int
    tool_errors: int
    latency_s: float
    reason: str

    @property
    def rate(self) -> float:
        """Candidate completion share (NaN with no defined trial)."""
        return self.successes / self.n if self.n else math.nan

    @property
    def base_rate(self) -> float:
        """Baseline completion share (NaN when there is none)."""
        if not self.base_n or self.base_successes is None:
            return math.nan
        return self.base_successes / self.base_n

    @property
    def delta(self) -> float:
        """Candidate minus baseline completion share (NaN without both)."""
        return self.rate - self.base_rate


@dataclass(frozen=True, slots=True)
class ProvenanceItem:
    """One line of provenance: what, its value, and a warning when it deserves one."""

    label: str
    value: str
    warning: str = ""


@dataclass(frozen=True)
class ReportData:
    """A run (and its baseline) analysed for reporting.

    Attributes:
        run: the run reported on.
        baseline_run: the stored baseline run (``mode == "stored"``), else None.
        mode: ``arms`` (baseline and candidate arms of one run), ``stored`` (against a
            stored run) or ``none``.
        candidate_arm: arm label of the reported arm in ``trials``.
        baseline_arm: arm label of the baseline in ``trials`` (None without one).
        spec: the suite's gate (None when the suite declares none).
        summary: the candidate's summary.
        comparison: the paired comparison (None without a baseline).
        gate: the verdict (None without a gate, or when it could not be evaluated).
        mde: metric → minimum detectable effect (from the gate, or a default rule).
        cases: per-case rows, regressions first.
        case_rule: the per-case pass rule in words.
        notes: caveats every renderer prints.
        provenance: what produced the numbers.
        trials: trials of the arms shown (candidate, then baseline for stored runs).
        scores: their scores.
        spans: their spans.
        inputs: case id → (input, expected) when the dataset could be found.
    """

    run: RunData
    baseline_run: RunData | None
    mode: CompareMode
    candidate_arm: str
    baseline_arm: str | None
    spec: GateSpec | None
    summary: RunSummary
    comparison: Comparison | None
    gate: GateResult | None
    mde: dict[str, MdeEstimate]
    cases: tuple[CaseRow, ...]
    case_rule: str
    notes: tuple[str, ...]
    provenance: tuple[ProvenanceItem, ...]
    trials: pd.DataFrame
    scores: pd.DataFrame
    spans: pd.DataFrame
    inputs: dict[str, tuple[Any, Any]] | None = field(default=None)

    @property
    def verdict(self) -> str | None:
        """``PASS`` / ``FAIL`` / ``INCONCLUSIVE``, or None without a gate."""
        return self.gate.verdict if self.gate is not None else None

    @property
    def suite_name(self) -> str:
        """The suite's name."""
        return str(self.run.manifest.get("suite_name") or self.run.path.parent.name)

    @property
    def regressed(self) -> list[CaseRow]:
        """Cases that passed in the baseline and fail in the candidate."""
        return [c for c in self.cases if c.flip == "regressed"]

    @property
    def failing(self) -> list[CaseRow]:
        """Cases that fail (per-case rule or regression)."""
        return [c for c in self.cases if c.status == "fail"]


def _gate_spec(manifest: Mapping[str, Any]) -> GateSpec | None:
    from pydantic import ValidationError

    from evalkit.errors import ConfigError
    from evalkit.gate import GateSpec

    raw = (manifest.get("suite") or {}).get("gate")
    if not raw:
        return None
    try:
        return GateSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"the run's gate section is invalid: {exc}", key="gate") from None


def _pick_arms(run: RunData) -> tuple[str, str | None]:
    arms = run.arms
    if "baseline" in arms and "candidate" in arms:
        return "candidate", "baseline"
    if len(arms) >= 2:
        return arms[1], arms[0]
    return arms[0], None


def _single_arm(run: RunData, what: str) -> str:
    arms = run.arms
    if len(arms) != 1:
        raise InputError(
            f"the {what} run {run.path} holds arms {', '.join(arms)}; a stored baseline must "
            "be a single-arm run (compare the arms of a compare run with 'evalkit report' on it)"
        )
    return arms[0]


def _frames(run: RunData, arm: str, label: str) -> tuple[pd.DataFrame, pd.DataFrame,
                                                          pd.DataFrame]:
    out = []
    for df in (run.trials, run.scores, run.spans):
        part = df[df["arm"] == arm] if "arm" in df.columns and len(df) else df
        if label != arm and len(part):
            part = part.assign(arm=label)
        out.append(part)
    return out[0], out[1], out[2]


def load_report(
    run_dir: str | Path, *, baseline: str | Path | None = None,
) -> ReportData:
    """Load a run (and a stored baseline) and compute everything the reports show.

    A run whose arms are ``baseline`` and ``candidate`` (from ``evalkit compare``) is
    compared within itself. A single-arm run is compared with ``baseline`` when given,
    pairing by case id.

    Raises:
        RunFolderError: a run folder is missing or unreadable.
        InputError: ``baseline`` given for a run that already holds two arms, or a
            stored baseline holding several arms.
        ConfigError: the run's gate section does not validate.
    """
    import pandas as pd

    from evalkit.results import open_run

    run = open_run(run_dir)
    manifest = run.manifest
    spec = _gate_spec(manifest)
    missing = spec.missing if spec else "fail"
    confidence = spec.confidence if spec else 0.95
    seed = int(manifest.get("seed") or 0)
    share = spec.per_case.share if spec and spec.per_case else DEFAULT_CASE_SHARE
    notes: list[str] = []
    base_run: RunData | None = None
    cand_arm, base_arm = _pick_arms(run)
    if base_arm is not None:
        if baseline is not None:
            raise InputError(f"{run.path} already holds the arms {base_arm!r} and "
                             f"{cand_arm!r}; it is compared within itself (drop --baseline)")
        mode: CompareMode = "arms"
        trials, scores, spans = run.trials, run.scores, run.spans
        keep = trials["arm"].isin([cand_arm, base_arm])
        trials = trials[keep]
        scores = scores[scores["arm"].isin([cand_arm, base_arm])]
        spans = spans[spans["arm"].isin([cand_arm, base_arm])]
        if len(run.arms) > 2:
            notes.append(f"the run holds {len(run.arms)} arms; only {base_arm!r} → "
                         f"{cand_arm!r} is compared")
    elif baseline is not None:
        mode = "stored"
        base_run = open_run(baseline)
        own = _single_arm(run, "reported")
        other = _single_arm(base_run, "baseline")
        ct, cs, cp = _frames(run, own, "candidate")
        bt, bs, bp = _frames(base_run, other, "baseline")
        trials = pd.concat([ct, bt], ignore_index=True)
        scores = pd.concat([cs, bs], ignore_index=True)
        spans = pd.concat([cp, bp], ignore_index=True)
        cand_arm, base_arm = "candidate", "baseline"
        notes.append(
            f"compared with the stored run {base_run.run_id} (paired by case id): a stored "
            "baseline can be confounded by model or provider drift since it ran; run both "
            "arms in one job ('evalkit compare') for a clean comparison")
        if base_run.dataset_hash != run.dataset_hash:
            notes.append(
                f"the baseline used dataset content {str(base_run.dataset_hash)[:19]} and this "
                f"run {str(run.dataset_hash)[:19]}: only cases present in both are compared")
    else:
        mode = "none"
        trials, scores, spans = run.trials, run.scores, run.spans
    summary, comparison = _analyse(trials, scores, mode, cand_arm, base_arm, missing=missing,
                                   confidence=confidence, seed=seed, share=share, notes=notes)
    gate, mde = _gate(spec, summary, comparison, notes)
    if gate is None:  # with a gate, these caveats are among its warnings already
        notes.extend(comparison.notes if comparison is not None else summary.notes)
    rows, rule = _case_rows(summary, comparison, trials, cand_arm, spec, share)
    inputs = _inputs(run, notes)
    return ReportData(
        run=run, baseline_run=base_run, mode=mode, candidate_arm=cand_arm,
        baseline_arm=base_arm if mode != "none" else None, spec=spec, summary=summary,
        comparison=comparison, gate=gate, mde=mde, cases=tuple(rows), case_rule=rule,
        notes=tuple(dict.fromkeys(notes)), provenance=tuple(_provenance(run, base_run, scores)),
        trials=trials, scores=scores, spans=spans, inputs=inputs,
    )


def _analyse(
    trials: pd.DataFrame, scores: pd.DataFrame, mode: CompareMode, cand: str, base: str | None,
    *, missing: Literal["fail", "exclude"], confidence: float, seed: int, share: float,
    notes: list[str],
) -> tuple[RunSummary, Comparison | None]:
    from evalkit.stats import compare_runs, summarize_run

    if mode != "none" and base is not None:
        try:
            comparison = compare_runs(
                trials, scores, baseline_arm=base, candidate_arm=cand, missing=missing,
                confidence=confidence, seed=seed, case_pass_fraction=share,
            )
            return comparison.candidate, comparison
        except EvalkitError as exc:
            notes.append(f"no comparison: {exc}")
    cand_trials = trials[trials["arm"] == cand]
    cand_scores = scores[scores["arm"] == cand] if len(scores) else scores
    summary = summarize_run(cand_trials, cand_scores, arm=cand, missing=missing,
                            confidence=confidence, seed=seed)
    return summary, None


def _gate(spec: GateSpec | None, summary: RunSummary, comparison: Comparison | None,
          notes: list[str]) -> tuple[GateResult | None, dict[str, MdeEstimate]]:
    from evalkit.gate import GateSpec, evaluate_gate, minimum_detectable_effects

    gate = None
    if spec is not None:
        try:
            gate = evaluate_gate(spec, summary, comparison)
        except EvalkitError as exc:
            notes.append(f"the gate could not be evaluated: {exc}")
    if gate is not None and gate.mde:
        return gate, dict(gate.mde)
    # No gate (or no gated metric): still say what this n and K could have detected.
    default = GateSpec.model_validate({"regression": {"completion_rate": {"margin": 0.0}}})
    try:
        mde = minimum_detectable_effects(default, summary, comparison)
    except EvalkitError:
        mde = {}
    return gate, mde


def _case_rows(
    summary: RunSummary, comparison: Comparison | None, trials: pd.DataFrame,
    cand_arm: str, spec: GateSpec | None, share: float,
) -> tuple[list[CaseRow], str]:
    rule = spec.per_case if spec else None
    if rule is not None:
        rule_text = f"completes at least {rule.min_passes} of {rule.of} trials (gate per_case)"
    else:
        rule_text = "completes at least half of its trials (no per_case rule in the gate)"
    rule_short = (f"rule: at least {rule.min_passes} of {rule.of}" if rule is not None
                  else "rule: at least half")
    base_cases = {c.case_id: c for c in comparison.baseline.cases} if comparison else {}
    regressed = {c for c, _, _ in comparison.regressed_cases} if comparison else set()
    improved = {c for c, _, _ in comparison.improved_cases} if comparison else set()
    cand = trials[trials["arm"] == cand_arm]
    per_case = cand.assign(_err=cand["status"].isin(NON_OK)).groupby("case_id").agg(
        errors=("_err", "sum"), tool_errors=("tool_errors", "sum"),
        latency=("latency_s", "sum"))
    errors = per_case["errors"].to_dict()
    tool_errors = per_case["tool_errors"].to_dict()
    latency = per_case["latency"].to_dict()
    rows: list[CaseRow] = []
    for case in summary.cases:
        cid = case.case_id
        need = math.ceil(share * case.n - 1e-9)
        base = base_cases.get(cid)
        flip = "regressed" if cid in regressed else "improved" if cid in improved else ""
        reasons = []
        if case.n == 0:
            status = "n/a"
            reasons.append("no trial with a defined completion")
        elif case.successes < need:
            status = "fail"
            reasons.append(f"completed {case.successes} of {case.n} trials, needs {need} "
                           f"({rule_short})")
        else:
            status = "pass"
        if flip == "regressed" and base is not None:
            status = "fail"
            reasons.append(f"regressed vs baseline: {base.successes}/{base.n} → "
                           f"{case.successes}/{case.n} trials completed")
        n_err = int(errors.get(cid, 0))
        if n_err and status == "fail":
            reasons.append(f"{n_err} trial(s) ended in error/timeout")
        lat = float(latency.get(cid, 0.0))
        rows.append(CaseRow(
            case_id=cid, tags=tuple(case.tags), status=status, flip=flip,
            successes=case.successes, n=case.n,
            base_successes=base.successes if base else None, base_n=base.n if base else None,
            errors=n_err, tool_errors=int(tool_errors.get(cid, 0)),
            latency_s=lat if math.isfinite(lat) else 0.0, reason="; ".join(reasons),
        ))
    rows.sort(key=_severity)
    return rows, rule_text


def _severity(row: CaseRow) -> tuple[int, float, float, str]:
    group = (0 if row.flip == "regressed" else 1 if row.status == "fail" else
             2 if row.errors else 3 if row.flip == "improved" else 4)
    delta = row.delta if math.isfinite(row.delta) else 0.0
    rate = row.rate if math.isfinite(row.rate) else -1.0
    return group, delta, rate, row.case_id


def _short(value: Any, n: int = 19) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[:n] + "…"


def _judge_hashes(scores: pd.DataFrame) -> dict[str, tuple[str, str | None]]:
    """Judge spec hash → (judge name, judge model), read from judge scores' ``details``."""
    import json

    if not len(scores) or "details" not in scores.columns:
        return {}
    details = scores["details"].dropna()
    details = details[details.str.contains('"spec_hash"', regex=False)]
    out: dict[str, tuple[str, str | None]] = {}
    for text in details.drop_duplicates().head(200):
        try:
            d = json.loads(text)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("spec_hash"):
            model = d.get("model")
            out.setdefault(str(d["spec_hash"]), (str(d.get("judge") or "judge"),
                                                 str(model) if model else None))
    return out


def _calibration(spec_hash: str, model: str | None, run: RunData) -> tuple[str, str]:
    """(note, warning) on a judge spec's calibration, when the scorer package can tell.

    Records live under ``judges/.calibration`` of the project: the working directory
    first, then the folders above the run.
    """
    try:
        import evalkit.scorer as scorer_pkg
    except ImportError:
        return "", ""
    loader = getattr(scorer_pkg, "load_calibration", None)
    status = getattr(scorer_pkg, "calibration_status", None)
    if loader is None:
        return "", ""
    roots: list[Path | None] = [None]
    roots += [p / "judges" / ".calibration" for p in list(run.path.resolve().parents)[:4]
              if (p / "judges" / ".calibration").is_dir()]
    record = None
    for root in roots:
        try:
            record = loader(spec_hash, model, root)
        except (EvalkitError, OSError, ValueError, KeyError, TypeError):
            record = None
        if record is not None:
            break
    if status is not None:
        try:
            state, message = status(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            return "", ""
        return (message, "") if state == "ok" else ("", f"{message}: judged rates may be off")
    if record is None:
        return "", "calibration missing: no agreement with human labels on record"
    return "", ""


def _provenance(run: RunData, base_run: RunData | None,
                scores: pd.DataFrame) -> list[ProvenanceItem]:
    m = run.manifest
    ds = m.get("dataset") or {}
    git = m.get("git") or {}
    items = [
        ProvenanceItem("run", f"{run.run_id} ({m.get('status', '?')}, started "
                              f"{m.get('started_at', '?')}, {m.get('duration_s', '?')} s)"),
        ProvenanceItem("suite", f"{m.get('suite_name')} {m.get('suite_hash', '')}"),
        ProvenanceItem("dataset", f"{ds.get('name')}@{ds.get('version')} {ds.get('hash', '')} "
                                  f"({ds.get('n_cases', '?')} cases, {ds.get('source', '')})"),
        ProvenanceItem("target", str(m.get("target"))),
        ProvenanceItem("model", str(m.get("model"))),
        ProvenanceItem("judge model", str(m.get("judge_model") or "none")),
    ]
    for spec_hash, (name, judge_model) in _judge_hashes(scores).items():
        note, warning = _calibration(spec_hash, judge_model, run)
        shown = f"{spec_hash} (model {judge_model})" if judge_model else spec_hash
        items.append(ProvenanceItem(f"judge spec {name}", f"{shown}{'; ' + note if note else ''}",
                                    warning))
    for comp, versions in sorted((m.get("versions") or {}).items()):
        for version, info in sorted(versions.items()):
            info = info if isinstance(info, Mapping) else {}
            items.append(ProvenanceItem(
                f"prompt {comp}", f"{version} {info.get('hash') or ''} "
                                  f"({info.get('trials', '?')} trials)"))
    arms = m.get("arms") or {}
    for arm, params in arms.items():
        if params:
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            items.append(ProvenanceItem(f"arm {arm}", shown))
    dirty = git.get("dirty")
    state = " (dirty)" if dirty is True else " (clean)" if dirty is False else ""
    items += [
        ProvenanceItem("git", f"{git.get('sha') or 'unknown'}{state}",
                       "uncommitted changes: the code that ran is not a commit" if dirty
                       else ""),
        ProvenanceItem("evalkit", str(m.get("evalkit_version"))),
        ProvenanceItem("seed / trials", f"seed {m.get('seed')}, K = {m.get('trials')}"),
    ]
    if base_run is not None:
        bm = base_run.manifest
        bds = bm.get("dataset") or {}
        bgit = bm.get("git") or {}
        drift = []
        if bm.get("model") != m.get("model"):
            drift.append(f"model {bm.get('model')} → {m.get('model')}")
        if bds.get("hash") != ds.get("hash"):
            drift.append("dataset content differs")
        items.append(ProvenanceItem(
            "baseline run", f"{base_run.run_id} (started {bm.get('started_at', '?')}; "
                            f"dataset {bds.get('name')}@{bds.get('version')} "
                            f"{_short(bds.get('hash'))}; model {bm.get('model')}; git "
                            f"{_short(bgit.get('sha'), 12)}; evalkit {bm.get('evalkit_version')})",
            "stored baseline: " + ("; ".join(drift) if drift else
                                   "may be confounded by model/provider drift")))
    return items


def _inputs(run: RunData, notes: list[str]) -> dict[str, tuple[Any, Any]] | None:
    """Case inputs and expectations from the run's dataset, when its content is found."""
    from evalkit.dataset import resolve_pin

    ds = run.manifest.get("dataset") or {}
    name, content = ds.get("name"), ds.get("hash")
    if not name or not content:
        return None
    roots: list[Path] = []
    suite_path = run.manifest.get("suite_path")
    if suite_path:
        roots.append(Path(suite_path).parent.parent / "datasets")
    # reports/<suite>/<run-id> sits in the project: look upwards, then in the cwd.
    roots += [parent / "datasets" for parent in list(run.path.resolve().parents)[:4]]
    roots.append(Path("datasets"))
    for root in dict.fromkeys(r.resolve() for r in roots):
        if not (root / str(name)).is_dir():
            continue
        try:
            dataset = resolve_pin(f"{name}@{content}", root)
        except EvalkitError:
            continue
        return {c.id: (c.input, c.expected) for c in dataset.cases}
    notes.append(f"case inputs not shown: dataset {name} with content {str(content)[:19]} was "
                 "not found next to the run or in ./datasets")
    return None
