"""Markdown for the job summary and the PR comment, built from the CLI's JSON.

The gate script only has what ``evalkit compare|run|gate --format json`` printed, so
this module reads that object defensively (any key may be absent) and lays out: the
verdict, a before/after table with Δ and its interval, violated and undecided rules,
warnings, and the minimum detectable effect (what a PASS could not have seen).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMENT_LIMIT",
    "SummaryContext",
    "inert",
    "render_summary",
    "sticky_marker",
    "truncate",
]

COMMENT_LIMIT = 65_536
"""GitHub rejects issue comments longer than this (characters)."""

ICONS = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", "ERROR": "💥"}
MAX_LISTED_CASES = 20
HEADLINE = ("completion_rate", "tool_error_rate")
"""Shown in the main table even when no rule names them; other metrics fold away."""


def sticky_marker(suite: str) -> str:
    """The hidden marker that identifies this suite's comment: ``<!-- evalkit-gate:S -->``."""
    safe = suite.replace("--", "-").replace(">", "").strip() or "default"
    return f"<!-- evalkit-gate:{safe} -->"


@dataclass(frozen=True)
class SummaryContext:
    """What the summary says besides the CLI's JSON.

    Attributes:
        suite: the suite's name (shown and used in the marker).
        baseline: how the baseline was chosen (``prompt_version=v1`` or a run folder).
        candidate: how the candidate was chosen.
        policy: the INCONCLUSIVE policy in force (``fail``/``warn``), or None for the
            suite's own.
        exit_code: what the job exits with.
        run_url: link to the workflow run and its artifacts.
        artifact: name of the uploaded artifact.
        error: what went wrong when there is no verdict.
    """

    suite: str
    baseline: str = ""
    candidate: str = ""
    policy: str | None = None
    exit_code: int = 0
    run_url: str | None = None
    artifact: str | None = None
    error: str | None = None


def truncate(markdown: str, limit: int = COMMENT_LIMIT - 512) -> str:
    """Cut *markdown* to *limit* characters at a line end, saying that it was cut."""
    if len(markdown) <= limit:
        return markdown
    note = "\n\n… (truncated; the full report is in the run's artifact)"
    cut = markdown.rfind("\n", 0, limit - len(note))
    return markdown[: cut if cut > 0 else limit - len(note)] + note


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value
    )


def _digits(metric: str) -> int:
    return 4 if "cost" in metric else 3


def _num(value: Any, metric: str = "", *, signed: bool = False) -> str:
    if not _is_number(value):
        return "n/a"
    digits = _digits(metric)
    number = float(value)
    if round(number, digits) == 0:
        number = 0.0  # no "-0.000"
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def _interval(low: Any, high: Any, metric: str, *, signed: bool = False) -> str:
    if not (_is_number(low) and _is_number(high)):
        return ""
    return f" [{_num(low, metric, signed=signed)}, {_num(high, metric, signed=signed)}]"


def _p(value: Any) -> str:
    if not _is_number(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def inert(text: Any, limit: int = 300) -> str:
    """Text from a run (case ids, reasons) on one line, unable to add HTML or @-mention."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("@", "&#64;").replace("`", "'")


def _cell(text: Any) -> str:
    return inert(text).replace("|", "\\|")


def _baseline_metrics(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    named = payload.get("baseline_metrics")
    if isinstance(named, Mapping):
        return named
    for key in ("baseline", "arms"):
        block = payload.get(key)
        if not isinstance(block, Mapping):
            continue
        if key == "arms":
            block = block.get("baseline")
            if not isinstance(block, Mapping):
                continue
        metrics = block.get("metrics")
        if isinstance(metrics, Mapping):
            return metrics
    return {}


def _candidate_metrics(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    metrics = payload.get("metrics")
    if isinstance(metrics, Mapping) and metrics:
        return metrics
    for key in ("candidate", "arms"):
        block = payload.get(key)
        if isinstance(block, Mapping) and key == "arms":
            block = block.get("candidate")
        if isinstance(block, Mapping) and isinstance(block.get("metrics"), Mapping):
            found: Mapping[str, Any] = block["metrics"]
            return found
    return {}


def _gated(payload: Mapping[str, Any]) -> list[str]:
    """Metrics the gate judged: from its checks, violations, undecided rules and MDEs."""
    names: list[str] = []
    for key in ("checks", "violations", "inconclusive"):
        for check in payload.get(key) or []:
            if isinstance(check, Mapping) and check.get("metric"):
                names.append(str(check["metric"]))
    mde = payload.get("mde")
    if isinstance(mde, Mapping):
        names.extend(str(n) for n in mde)
    return list(dict.fromkeys(names))


def _split(names: Iterable[str], payload: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(metrics for the main table: gated, then headline ones; the rest)."""
    names = list(names)
    first = [*_gated(payload), *HEADLINE]
    main = [n for n in dict.fromkeys(first) if n in names]
    return main, [n for n in names if n not in main]


def _with_details(main: list[str], rest: list[str], header: list[str],
                  row: Callable[[str], str]) -> list[str]:
    lines = [*header, *(row(n) for n in main)]
    if rest:
        lines += ["", f"<details><summary>{len(rest)} more metrics</summary>", "", *header,
                  *(row(n) for n in rest), "", "</details>"]
    return lines


def _comparison_table(payload: Mapping[str, Any]) -> list[str]:
    deltas: Mapping[str, Any] = payload.get("deltas") or {}
    base = _baseline_metrics(payload)
    cand = _candidate_metrics(payload)
    gated = _gated(payload)
    header = [
        "| metric | before (baseline) | after (candidate) [95% CI] | Δ after − before [95% CI] "
        "| p |",
        "|---|---:|---:|---:|---:|",
    ]

    def row(name: str) -> str:
        d = deltas.get(name) or {}
        b = base.get(name) or {}
        c = cand.get(name) or {}
        before = b.get("estimate", d.get("baseline"))
        after = c.get("estimate", d.get("candidate"))
        label = f"**{name}**" if name in gated else name
        return (
            f"| {_cell(label)} | {_num(before, name)} "
            f"| {_num(after, name)}{_interval(c.get('ci_low'), c.get('ci_high'), name)} "
            f"| {_num(d.get('estimate'), name, signed=True)}"
            f"{_interval(d.get('ci_low'), d.get('ci_high'), name, signed=True)} "
            f"| {_p(d.get('p_value'))} |"
        )

    return _with_details(*_split(deltas, payload), header, row)


def _metrics_table(payload: Mapping[str, Any]) -> list[str]:
    metrics = _candidate_metrics(payload)
    gated = _gated(payload)
    header = ["| metric | estimate [95% CI] | cases | trials |", "|---|---:|---:|---:|"]

    def row(name: str) -> str:
        m = metrics.get(name) or {}
        label = f"**{name}**" if name in gated else name
        return (
            f"| {_cell(label)} | {_num(m.get('estimate'), name)}"
            f"{_interval(m.get('ci_low'), m.get('ci_high'), name)} "
            f"| {m.get('n_cases', '')} | {m.get('n_trials', '')} |"
        )

    return _with_details(*_split(metrics, payload), header, row)


def _rule_lines(checks: Any) -> list[str]:
    lines = []
    for check in checks or []:
        if not isinstance(check, Mapping):
            lines.append(f"- {_cell(check)}")
            continue
        rule = inert(check.get("rule", "rule"), 40)
        metric = inert(check.get("metric", ""), 100)
        reason = inert(check.get("reason", ""), 600)
        line = f"- **{rule}** `{metric}`: {reason}"
        cases = check.get("cases") or []
        if cases:
            shown = ", ".join(f"`{inert(c, 100)}`" for c in cases[:MAX_LISTED_CASES])
            extra = len(cases) - MAX_LISTED_CASES
            more = f" and {extra} more" if extra > 0 else ""
            line += f" (cases: {shown}{more})"
        lines.append(line)
    return lines


def _mde_lines(mde: Any) -> list[str]:
    if not isinstance(mde, Mapping) or not mde:
        return []
    lines = [
        "| metric | smallest regression the gate detects (MDE) | power | basis |",
        "|---|---:|---:|---|",
    ]
    for name, est in mde.items():
        if not isinstance(est, Mapping):
            continue
        power = est.get("power")
        power_text = f"{power:.0%}" if _is_number(power) else ""
        value = est.get("mde")
        shown = _num(value, name) if _is_number(value) else "not detectable at this n"
        lines.append(f"| {_cell(name)} | {shown} | {power_text} | {_cell(est.get('basis', ''))} |")
    return lines


def _flip_lines(payload: Mapping[str, Any]) -> list[str]:
    regressed = payload.get("regressed_cases") or []
    if not regressed:
        return []
    ids = [str(r.get("case_id")) if isinstance(r, Mapping) else str(r) for r in regressed]
    shown = ", ".join(f"`{inert(c, 100)}`" for c in ids[:MAX_LISTED_CASES])
    more = f" and {len(ids) - MAX_LISTED_CASES} more" if len(ids) > MAX_LISTED_CASES else ""
    return [f"Cases that passed before and fail now: {shown}{more}"]


def render_summary(
    payload: Mapping[str, Any],
    ctx: SummaryContext,
    *,
    marker: bool,
    report_markdown: str | None = None,
) -> str:
    """Markdown for the job summary (``marker=False``) or the sticky PR comment.

    Args:
        payload: the JSON object the evalkit CLI printed (may be empty on errors).
        ctx: suite, arms, policy, exit code and links.
        marker: start with the hidden marker that finds the comment again.
        report_markdown: the summary ``evalkit report --markdown`` wrote; used as the body
            when given (with the arms, the policy's effect and the artifact around it),
            else the body is built from *payload*.
    """
    verdict = str(payload.get("verdict") or ("ERROR" if ctx.error else "n/a"))
    icon = ICONS.get(verdict, "")
    out: list[str] = []
    if marker:
        out.append(sticky_marker(ctx.suite))
    body: list[str] = []
    if report_markdown is None:
        out.append(f"### {icon} evalkit gate: {verdict} · `{ctx.suite}`".replace("  ", " "))
    else:
        # the report's own heading first, then what only the action knows
        heading, _, rest = report_markdown.strip().partition("\n")
        out.append(heading)
        body = ["", rest.strip()] if rest.strip() else []
    arms = []
    if ctx.baseline:
        arms.append(f"before (baseline): `{inert(ctx.baseline, 200)}`")
    if ctx.candidate:
        arms.append(f"after (candidate): `{inert(ctx.candidate, 200)}`")
    if arms:
        out.append(" · ".join(arms))
    if verdict == "INCONCLUSIVE":
        suite_policy = str(payload.get("on_inconclusive") or "")
        policy = ctx.policy or suite_policy or "the suite's"
        override = (f" (set on the action, over the suite's `{suite_policy}`)"
                    if ctx.policy and suite_policy and ctx.policy != suite_policy else "")
        out.append(
            f"The data could not decide; under the `{policy}` policy{override} the job "
            f"{'fails' if ctx.exit_code else 'passes with a warning'}. "
            "Run the next planned stage (more cases or trials); do not re-run until green."
        )
    if ctx.error:
        out.append(f"The gate could not run: {inert(ctx.error, 500)}")
    if report_markdown is not None:
        return _with_footer(["\n\n".join(part for part in [*out, *body] if part)], ctx)
    out.append("")
    if payload.get("deltas"):
        out.extend(_comparison_table(payload))
    elif _candidate_metrics(payload):
        out.extend(_metrics_table(payload))
    for title, items in (
        ("Violations (blocking)", payload.get("violations")),
        ("Undecided (blocking)", payload.get("inconclusive")),
    ):
        lines = _rule_lines(items)
        if lines:
            out.extend(["", f"**{title}**", *lines])
    flips = _flip_lines(payload)
    if flips:
        out.extend(["", *flips])
    warnings = [str(w) for w in payload.get("warnings") or []]
    if warnings:
        out.extend(["", "**Warnings**", *(f"- {inert(w, 600)}" for w in warnings)])
    mde = _mde_lines(payload.get("mde"))
    if mde:
        out.extend(["", "<details><summary>What this run could detect</summary>", "", *mde,
                    "", "</details>"])
    return _with_footer(out, ctx)


def _with_footer(out: list[str], ctx: SummaryContext) -> str:
    footer = []
    if ctx.run_url:
        link = f"[workflow run]({ctx.run_url})"
        footer.append(
            f"HTML report and run folder: artifact `{ctx.artifact}` of the {link}"
            if ctx.artifact
            else f"Details: {link}"
        )
    from evalkit import __version__

    footer.append(f"evalkit {__version__}")
    tail = "\n\n<sub>" + " · ".join(footer) + "</sub>\n"
    return truncate("\n".join(out), COMMENT_LIMIT - 512 - len(tail)) + tail
