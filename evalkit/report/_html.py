"""The self-contained HTML report: server-side summary sections, client-side case table.

Everything a reviewer needs in the first minute (verdict, reasons, MDE, metrics, forest
plots, provenance) is rendered here through Jinja2 with autoescaping. The case table and
drill-down are built in the browser from the JSON data block (``_payload.py``) with DOM
APIs and ``textContent`` only: model outputs and case inputs are untrusted text. A
Content-Security-Policy with a per-file nonce backs that up: no network, no inline event
handlers, no script but ours.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from evalkit.report._format import delta_text, interval_text, is_rate, metric_label, value_text

if TYPE_CHECKING:
    import jinja2

    from evalkit.report._data import ReportData
    from evalkit.report._payload import PayloadLimits
    from evalkit.stats import DeltaEstimate, MetricEstimate

__all__ = ["render_html"]

VERDICT_TEXT = {
    "PASS": "PASS",
    "FAIL": "FAIL",
    "INCONCLUSIVE": "INCONCLUSIVE",
    None: "NO GATE",
}


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _asset(name: str) -> str:
    from importlib.resources import files

    return (files("evalkit.report") / "templates" / name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class _Reason:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class _MetricRow:
    name: str
    label: str
    gated: str
    baseline: str
    candidate: str
    delta: str
    delta_ci: str
    p_value: str
    tone: str
    method: str


@dataclass(frozen=True, slots=True)
class _ForestRow:
    label: str
    y: float
    x_low: float
    x_high: float
    x_est: float
    tone: str
    text: str
    title: str
    margin_x: float | None


@dataclass(frozen=True, slots=True)
class _Forest:
    width: int
    height: int
    left: int
    right: int
    zero_x: float
    ticks: list[tuple[float, str]]
    rows: list[_ForestRow]
    caption: str


def _fnum(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and math.isfinite(float(x)) else math.nan


def _tone(delta: DeltaEstimate) -> str:
    """``bad`` when the interval excludes 0 on the unfavourable side, ``good`` opposite."""
    lo, hi = _fnum(delta.ci_low), _fnum(delta.ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    worse_if_negative = delta.direction == "higher"
    if hi < 0:
        return "bad" if worse_if_negative else "good"
    if lo > 0:
        return "good" if worse_if_negative else "bad"
    return ""


def _gated(data: ReportData, name: str) -> str:
    spec = data.spec
    if spec is None:
        return ""
    parts = []
    rule = spec.thresholds.get(name)
    if rule is not None:
        if rule.min is not None:
            parts.append(f"≥ {value_text(name, rule.min)}")
        if rule.max is not None:
            parts.append(f"≤ {value_text(name, rule.max)}")
    reg = spec.regression.get(name)
    if reg is not None:
        margin = f"{reg.margin * 100:g} pp" if is_rate(name) else f"{reg.margin:g}"
        parts.append(f"margin {margin}" + ("" if reg.blocking else " (warn)"))
    return ", ".join(parts)


def _metric_rows(data: ReportData) -> list[_MetricRow]:
    comparison = data.comparison
    base = comparison.baseline.metrics if comparison else {}
    rows = []
    for name, m in data.summary.metrics.items():
        if "equals completion_rate" in m.method:
            continue
        d = comparison.deltas.get(name) if comparison else None
        b = base.get(name)
        rows.append(_MetricRow(
            name=name, label=metric_label(name), gated=_gated(data, name),
            baseline=_estimate_text(name, b) if b is not None else "",
            candidate=_estimate_text(name, m),
            delta=delta_text(name, d.estimate) if d else "",
            delta_ci=interval_text(name, d.ci_low, d.ci_high, delta=True) if d else "",
            p_value=_p_text(d.p_value) if d else "",
            tone=_tone(d) if d else "",
            method=(f"candidate: {m.method}" + (f"; Δ: {d.method}" if d else "")
                    + (f"; {m.n_excluded} trial(s) excluded" if m.n_excluded else "")),
        ))
    return rows


def _estimate_text(name: str, m: MetricEstimate) -> str:
    if not m.defined:
        return "undefined"
    return f"{value_text(name, m.estimate)} {interval_text(name, m.ci_low, m.ci_high)}"


def _p_text(p: float) -> str:
    p = _fnum(p)
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _compact(name: str, est: float, low: float, high: float) -> str:
    """``−6.9 [−9.0, −4.8]`` in percentage points for rates (the axis unit)."""
    def one(x: float) -> str:
        x = _fnum(x)
        if not math.isfinite(x):
            return "n/a"
        v = x * 100 if is_rate(name) or name.startswith("score:") else x
        return f"{v:+.1f}".replace("-", "−").replace("+0.0", "0.0")
    return f"{one(est)} [{one(low)}, {one(high)}]"


def _nice_step(span: float) -> float:
    raw = span / 4
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 0.01
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag  # pragma: no cover


def _forest(entries: list[tuple[str, float, float, float, str, str, float | None]],
            caption: str, *, pp: bool = True) -> _Forest | None:
    """Geometry of a forest plot: (label, est, lo, hi, tone, title, margin) per row."""
    usable = [e for e in entries if all(math.isfinite(v) for v in e[1:4])]
    if not usable:
        return None
    extent = max([abs(v) for e in usable for v in e[1:4]]
                 + [abs(e[6]) for e in usable if e[6] is not None] + [0.01])
    extent = min(1.0, extent * 1.1) if pp else extent * 1.1
    width, left, right, row_h, top = 820, 230, 190, 26, 28
    plot_w = width - left - right

    def x(v: float) -> float:
        return round(left + (max(-extent, min(extent, v)) + extent) / (2 * extent) * plot_w, 1)

    step = _nice_step(2 * extent)
    ticks = []
    t = -math.floor(extent / step) * step
    while t <= extent + 1e-12:
        label = f"{t * 100:+.0f}" if pp else f"{t:+.3g}"
        ticks.append((x(t), label.replace("-", "−") if t else "0"))
        t += step
    rows = []
    for i, (label, est, lo, hi, tone, title, margin) in enumerate(usable):
        rows.append(_ForestRow(
            label=label, y=top + i * row_h + row_h / 2, x_low=x(lo), x_high=x(hi),
            x_est=x(est), tone=tone, text=title.split(" | ")[0], title=title,
            margin_x=x(margin) if margin is not None else None,
        ))
    height = top + len(rows) * row_h + 34
    return _Forest(width, height, left, right, x(0.0), ticks, rows, caption)


def _delta_forest(data: ReportData) -> _Forest | None:
    comparison = data.comparison
    if comparison is None:
        return None
    entries: list[tuple[str, float, float, float, str, str, float | None]] = []
    for name, d in comparison.deltas.items():
        if not (is_rate(name) or name.startswith("score:")) or name in {"pass@1", "pass^1"}:
            continue
        margin = None
        if data.spec is not None and name in data.spec.regression:
            m = data.spec.regression[name].margin
            margin = -m if d.direction == "higher" else m
        title = (f"{_compact(name, d.estimate, d.ci_low, d.ci_high)} | p = "
                 f"{_p_text(d.p_value)}; {d.method}")
        entries.append((metric_label(name), _fnum(d.estimate), _fnum(d.ci_low),
                        _fnum(d.ci_high), _tone(d), title, margin))
    conf = f"{comparison.confidence:.0%}"
    return _forest(entries, f"Δ = candidate − baseline with {conf} intervals, in percentage "
                            "points; dashed red: the gate's non-inferiority margin")


def _tag_rows(data: ReportData) -> tuple[list[dict[str, str]], _Forest | None]:
    comparison = data.comparison
    rows: list[dict[str, str]] = []
    name = "completion_rate"
    if comparison is not None:
        entries: list[tuple[str, float, float, float, str, str, float | None]] = []
        for tag, td in comparison.by_tag.items():
            d = td.delta
            b = comparison.baseline.by_tag.get(tag)
            c = comparison.candidate.by_tag.get(tag)
            rows.append({
                "tag": tag, "cases": str(d.n_paired),
                "baseline": value_text(name, b.estimate) if b else "",
                "candidate": value_text(name, c.estimate) if c else "",
                "delta": f"{delta_text(name, d.estimate)} "
                         f"{interval_text(name, d.ci_low, d.ci_high, delta=True)}",
                "q": _p_text(td.q_value), "flag": "flagged" if td.flagged else "",
                "tone": _tone(d),
            })
            entries.append((tag, _fnum(d.estimate), _fnum(d.ci_low), _fnum(d.ci_high),
                            _tone(d), f"{_compact(name, d.estimate, d.ci_low, d.ci_high)} | q = "
                                      f"{_p_text(td.q_value)} (Benjamini–Hochberg)", None))
        forest = _forest(entries, "Task-completion Δ per tag (diagnostic: tags are not gated; "
                                  "q-values are Benjamini–Hochberg adjusted)")
        return rows, forest
    for tag, m in data.summary.by_tag.items():
        rows.append({
            "tag": tag, "cases": str(m.n_cases), "baseline": "",
            "candidate": _estimate_text(name, m), "delta": "", "q": "", "flag": "", "tone": "",
        })
    return rows, None


def _reasons(data: ReportData) -> list[_Reason]:
    out: list[_Reason] = []
    gate = data.gate
    if gate is not None:
        out += [_Reason("fail", c.reason) for c in gate.violations]
        out += [_Reason("inconclusive", c.reason) for c in gate.inconclusive]
        if gate.verdict == "PASS":
            out += [_Reason("pass", c.reason) for c in gate.checks
                    if c.outcome == "pass" and c.blocking][:6]
        out += [_Reason("warn", w) for w in gate.warnings]
    elif data.spec is None:
        out.append(_Reason("note", "the suite declares no gate: the numbers below describe "
                                   "the run but decide nothing"))
    out += [_Reason("note", n) for n in data.notes]
    return out


def _mde_lines(data: ReportData) -> list[str]:
    lines = []
    for name, m in data.mde.items():
        if not math.isfinite(m.mde):
            why = m.basis if m.basis.startswith("not estimable") else \
                f"not estimable with {m.n_cases} case(s)"
            lines.append(f"{metric_label(name)}: {why}")
            continue
        if is_rate(name) and m.mde >= 1:
            lines.append(
                f"{metric_label(name)}: no change of any size can be shown with "
                f"{m.n_cases:,} cases at K = {m.trials_per_case:g} (MDE above 100 pp at "
                f"α = {m.alpha:g}, power {m.power:.0%}): add cases or trials")
            continue
        size = f"{m.mde * 100:.1f} pp" if is_rate(name) else f"{m.mde:.3g}"
        lines.append(
            f"{metric_label(name)}: a true change of {size} would be caught with "
            f"{m.power:.0%} power at one-sided α = {m.alpha:g} ({m.n_cases:,} cases, "
            f"K = {m.trials_per_case:g}); smaller changes can pass unseen")
    return lines


def _headline(data: ReportData) -> str:
    name = "completion_rate"
    m = data.summary.metrics.get(name)
    if m is None:
        return ""
    comparison = data.comparison
    if comparison is not None and name in comparison.deltas:
        d = comparison.deltas[name]
        return (f"task completion {value_text(name, d.baseline)} → "
                f"{value_text(name, d.candidate)}: Δ {delta_text(name, d.estimate)} "
                f"{interval_text(name, d.ci_low, d.ci_high, delta=True)}, p = "
                f"{_p_text(d.p_value)}, {d.n_paired:,} paired cases")
    return f"task completion {_estimate_text(name, m)} over {m.n_cases:,} cases"


def _counts(data: ReportData) -> str:
    s = data.summary
    trials = s.counts.get("trials", {})
    scores = s.counts.get("scores", {})
    parts = [f"{s.n_cases:,} cases × {s.trials_per_case:g} trials"]
    parts.append(", ".join(f"{k} {v:,}" for k, v in trials.items() if v))
    errs = ", ".join(f"{k} {v:,}" for k, v in scores.items() if v)
    if errs:
        parts.append(errs)
    return "; ".join(p for p in parts if p)


def _compared(data: ReportData) -> str:
    if data.mode == "arms":
        return f"arm {data.baseline_arm} → arm {data.candidate_arm} (same job, paired by case)"
    if data.mode == "stored" and data.baseline_run is not None:
        return f"stored run {data.baseline_run.run_id} → this run (paired by case id)"
    return "single run, no baseline"


def render_html(data: ReportData, *, limits: PayloadLimits | None = None) -> str:
    """The report as one self-contained HTML document."""
    from evalkit.report._payload import build_payload, dump_payload

    payload = dump_payload(build_payload(data, limits))
    verdict = data.verdict
    tag_rows, tag_forest = _tag_rows(data)
    nonce = secrets.token_urlsafe(18)
    return _environment().get_template("report.html.j2").render(
        nonce=nonce,
        css=_asset("report.css"),
        js=_asset("report.js"),
        payload=payload,
        verdict=(VERDICT_TEXT.get(verdict, str(verdict)) if verdict or data.spec is None
                 else "GATE NOT EVALUATED"),
        verdict_class=(verdict or "none").lower(),
        policy=(f"on_inconclusive: {data.gate.on_inconclusive} → exit {data.gate.exit_code}"
                if data.gate is not None else ""),
        suite=data.suite_name,
        run_id=data.run.run_id,
        compared=_compared(data),
        headline=_headline(data),
        counts=_counts(data),
        reasons=_reasons(data),
        mde=_mde_lines(data),
        metrics=_metric_rows(data),
        has_baseline=data.comparison is not None,
        forest=_delta_forest(data),
        tag_rows=tag_rows,
        tag_forest=tag_forest,
        provenance=data.provenance,
        case_rule=data.case_rule,
        n_cases=len(data.cases),
        n_regressed=len(data.regressed),
        n_failing=len(data.failing),
        confidence=f"{data.summary.confidence:.0%}",
    )
