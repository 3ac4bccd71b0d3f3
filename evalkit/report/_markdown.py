"""The Markdown summary: for ``$GITHUB_STEP_SUMMARY`` and a PR comment.

Always under GitHub's 65,536-character comment limit: lists shrink (and say so) until the
text fits, and as a last resort the text is cut with a notice. Text from the run (case ids,
reasons, tags) is escaped so it can neither format the comment, inject HTML nor @-mention.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from evalkit.report._format import (
    delta_text,
    interval_text,
    is_rate,
    metric_label,
    value_text,
)

if TYPE_CHECKING:
    from evalkit.report._data import CaseRow, ReportData

__all__ = ["GITHUB_COMMENT_LIMIT", "REPORT_URL_PLACEHOLDER", "markdown_summary"]

GITHUB_COMMENT_LIMIT = 65_536
REPORT_URL_PLACEHOLDER = "{{REPORT_URL}}"
"""Link target of the Markdown summary when no ``report_url`` is given (the caller replaces it)."""
ICON = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", None: "ℹ️"}
_SPECIAL = re.compile(r"([\\`*_\[\]|~()!#])")


def md(text: object, limit: int = 300) -> str:
    """Untrusted text made inert for GitHub Markdown, on one line, cut to *limit*."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _SPECIAL.sub(r"\\\1", s)
    return s.replace("@", "&#64;")


def _url(url: str) -> str:
    """A link target that cannot end the Markdown link early or carry markup."""
    table = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", '"': "%22",
             "\n": "", "\r": ""}
    return "".join(table.get(ch, ch) for ch in url.strip())


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _case_table(rows: list[CaseRow], limit: int, has_baseline: bool) -> list[str]:
    if has_baseline:
        lines = ["| case | tags | baseline | candidate | why |", "|---|---|---:|---:|---|"]
    else:
        lines = ["| case | tags | completed | why |", "|---|---|---:|---|"]
    for r in rows[:limit]:
        tags = md(", ".join(r.tags), 60)
        cand = f"{r.successes}/{r.n}"
        why = md(r.reason, 160)
        if has_baseline:
            base = f"{r.base_successes}/{r.base_n}" if r.base_n is not None else "–"
            lines.append(f"| {md(r.case_id, 80)} | {tags} | {base} | {cand} | {why} |")
        else:
            lines.append(f"| {md(r.case_id, 80)} | {tags} | {cand} | {why} |")
    return lines


def _sections(data: ReportData, report_url: str, top: int, reason_limit: int) -> list[str]:
    verdict = data.verdict
    head = verdict or ("NO GATE" if data.spec is None else "GATE NOT EVALUATED")
    out = [f"## {ICON.get(verdict, '')} evalkit {head} — {md(data.suite_name, 100)}", ""]
    s = data.summary
    compared = {
        "arms": f"arm {md(data.baseline_arm)} → arm {md(data.candidate_arm)}, same job, "
                "paired by case",
        "stored": "stored baseline run "
                  + (md(data.baseline_run.run_id) if data.baseline_run else "?")
                  + " → this run, paired by case id",
        "none": "single run, no baseline",
    }[data.mode]
    out.append(f"run {md(data.run.run_id)} · {compared} · {s.n_cases:,} cases × "
               f"{s.trials_per_case:g} trials")
    out.append("")
    comparison = data.comparison
    name = "completion_rate"
    if comparison is not None and name in comparison.deltas:
        d = comparison.deltas[name]
        out.append(f"**Task completion {value_text(name, d.baseline)} → "
                   f"{value_text(name, d.candidate)}**: Δ {delta_text(name, d.estimate)} "
                   f"{interval_text(name, d.ci_low, d.ci_high, delta=True)}, "
                   f"p = {_p(d.p_value)}")
        out.append("")
    elif name in s.metrics:
        m = s.metrics[name]
        out.append(f"**Task completion {value_text(name, m.estimate)}** "
                   f"{interval_text(name, m.ci_low, m.ci_high)}")
        out.append("")
    reasons: list[str] = []
    gate = data.gate
    if gate is not None:
        reasons += [f"❌ {md(c.reason, reason_limit)}" for c in gate.violations]
        reasons += [f"⚠️ {md(c.reason, reason_limit)}" for c in gate.inconclusive]
        reasons += [f"⚠️ {md(w, reason_limit)}" for w in gate.warnings]
        if gate.verdict == "INCONCLUSIVE":
            reasons.append(f"policy on_inconclusive: {md(gate.on_inconclusive)} → exit "
                           f"{gate.exit_code}")
    elif data.spec is None:
        reasons.append("ℹ️ the suite declares no gate: nothing is decided")
    reasons += [f"ℹ️ {md(n, reason_limit)}" for n in data.notes]
    if reasons:
        shown = reasons[: max(3, top)]
        out += [f"- {r}" for r in shown]
        if len(reasons) > len(shown):
            out.append(f"- … {len(reasons) - len(shown)} more in the HTML report")
        out.append("")
    for mname, mde in data.mde.items():
        if is_rate(mname) and math.isfinite(mde.mde) and mde.mde >= 1:
            out.append(f"**MDE** {metric_label(mname)}: above 100 pp with {mde.n_cases:,} "
                       "cases: no regression of any size can be shown; add cases or trials.")
        elif math.isfinite(mde.mde):
            size = delta_text(mname, mde.mde).lstrip("+")
            out.append(f"**MDE** {metric_label(mname)}: {size} at {mde.power:.0%} power, "
                       f"one-sided α = {mde.alpha:g}: a smaller true change can pass unseen.")
        elif mde.basis.startswith("not estimable"):
            out.append(f"**MDE** {metric_label(mname)}: {mde.basis}.")
        else:
            out.append(f"**MDE** {metric_label(mname)}: not estimable with {mde.n_cases} cases.")
    if data.mde:
        out.append("")
    out += _metrics_table(data)
    has_baseline = comparison is not None
    regressed = data.regressed
    if regressed:
        n = min(top, len(regressed))
        out += ["", f"### Regressed cases ({n} of {len(regressed):,} shown)", ""]
        out += _case_table(regressed, top, True)
        if len(regressed) > n:
            out.append(f"\n… {len(regressed) - n:,} more regressed cases are listed in the "
                       f"[HTML report]({report_url}).")
    failing = [r for r in data.failing if r.flip != "regressed"]
    if failing:
        n = min(top, len(failing))
        out += ["", f"### Failing cases ({n} of {len(failing):,} shown; a case passes when it "
                    f"{md(data.case_rule)})", ""]
        out += _case_table(failing, top, has_baseline)
        if len(failing) > n:
            out.append(f"\n… {len(failing) - n:,} more failing cases are listed in the "
                       f"[HTML report]({report_url}).")
    if comparison is not None:
        flagged = [t for t in comparison.by_tag.values() if t.flagged]
        if flagged:
            out += ["", "### Tags with a significant change (Benjamini–Hochberg)", ""]
            for t in flagged[:top]:
                d = t.delta
                out.append(f"- {md(t.tag, 60)}: Δ {delta_text(name, d.estimate)} "
                           f"{interval_text(name, d.ci_low, d.ci_high, delta=True)}, "
                           f"q = {_p(t.q_value)}")
    out += ["", "<details><summary>Provenance</summary>", ""]
    for p in data.provenance:
        warn = f" ⚠️ {md(p.warning, 200)}" if p.warning else ""
        out.append(f"- {md(p.label, 60)}: {md(p.value, 240)}{warn}")
    out += ["", "</details>", "", f"📄 [Full HTML report]({report_url}) — every case, "
                                  "trial, score and trace."]
    return out


def _metrics_table(data: ReportData) -> list[str]:
    comparison = data.comparison
    conf = f"{data.summary.confidence:.0%}"
    skip = {"pass@1", "pass^1"}
    if comparison is not None:
        lines = [f"| metric | baseline | candidate | Δ | {conf} interval | p |",
                 "|---|---:|---:|---:|---|---:|"]
        for name, d in comparison.deltas.items():
            if name in skip:
                continue
            bold = "**" if (d.direction == "higher" and d.ci_high < 0) or (
                d.direction == "lower" and d.ci_low > 0) else ""
            lines.append(
                f"| {md(metric_label(name), 80)} | {value_text(name, d.baseline)} | "
                f"{value_text(name, d.candidate)} | {bold}{delta_text(name, d.estimate)}{bold}"
                f" | {interval_text(name, d.ci_low, d.ci_high, delta=True)} | "
                f"{_p(d.p_value)} |")
        return lines
    lines = [f"| metric | estimate | {conf} interval | cases | trials |",
             "|---|---:|---|---:|---:|"]
    for name, m in data.summary.metrics.items():
        if name in skip:
            continue
        lines.append(f"| {md(metric_label(name), 80)} | {value_text(name, m.estimate)} | "
                     f"{interval_text(name, m.ci_low, m.ci_high)} | {m.n_cases:,} | "
                     f"{m.n_trials:,} |")
    return lines


def markdown_summary(data: ReportData, *, report_url: str | None = None,
                     max_chars: int = 60_000) -> str:
    """The summary, at most *max_chars* characters (kept below GitHub's 65,536)."""
    max_chars = min(max_chars, GITHUB_COMMENT_LIMIT - 1)
    url = _url(report_url) if report_url else REPORT_URL_PLACEHOLDER
    text = ""
    for top, reason_limit in ((20, 500), (10, 300), (5, 200), (3, 120), (0, 80)):
        text = "\n".join(_sections(data, url, top, reason_limit)) + "\n"
        if len(text) <= max_chars:
            return text
    notice = (f"\n\n… summary cut at {max_chars:,} characters; see the "
              f"[HTML report]({url}).\n")
    return text[: max_chars - len(notice)] + notice
