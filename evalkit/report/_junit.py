"""JUnit XML: one testcase per case plus one for the gate, readable by CI test viewers.

A case fails when it breaks its per-case rule (the gate's k-of-n ``per_case``, else "at
least half of its trials complete") or regressed against the baseline; a case with no
defined completion is an error. The gate testcase fails on FAIL, and on INCONCLUSIVE when
the policy makes that exit 1; an INCONCLUSIVE that does not fail the job is skipped with the
reason. Provenance goes into ``<properties>``. The layout follows the common Jenkins /
Ant ``junit-10.xsd`` (validated in ``tests/report/junit-10.xsd``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.report._data import CaseRow, ReportData

__all__ = ["junit_xml"]

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object, limit: int | None = None) -> str:
    """Text XML 1.0 can carry (control characters dropped), cut to *limit*."""
    s = _ILLEGAL.sub("", str(text))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def _flag(value: object) -> str:
    return "true" if value is True else "false" if value is False else "unknown"


def _properties(data: ReportData) -> dict[str, str]:
    m = data.run.manifest
    ds = m.get("dataset") or {}
    git = m.get("git") or {}
    props = {
        "evalkit.run_id": data.run.run_id,
        "evalkit.suite": data.suite_name,
        "evalkit.suite_hash": str(m.get("suite_hash") or ""),
        "evalkit.dataset": f"{ds.get('name')}@{ds.get('version')}",
        "evalkit.dataset_hash": str(ds.get("hash") or ""),
        "evalkit.target": str(m.get("target") or ""),
        "evalkit.model": str(m.get("model") or ""),
        "evalkit.judge_model": str(m.get("judge_model") or ""),
        "evalkit.git_sha": str(git.get("sha") or "unknown"),
        "evalkit.git_dirty": _flag(git.get("dirty")),
        "evalkit.version": str(m.get("evalkit_version") or ""),
        "evalkit.seed": str(m.get("seed")),
        "evalkit.trials_per_case": f"{data.summary.trials_per_case:g}",
        "evalkit.comparison": data.mode,
        "evalkit.verdict": data.verdict or "none",
        "evalkit.case_rule": data.case_rule,
    }
    if data.baseline_run is not None:
        props["evalkit.baseline_run_id"] = data.baseline_run.run_id
    for item in data.provenance:
        if item.label.startswith(("prompt ", "judge spec ")):
            props[f"evalkit.{item.label.replace(' ', '.')}"] = item.value
    for name, mde in data.mde.items():
        props[f"evalkit.mde.{name}"] = f"{mde.mde:.6g}"
    return props


def _gate_case(data: ReportData, classname: str) -> tuple[ET.Element, str]:
    case = ET.Element("testcase", {"classname": classname, "name": "gate verdict", "time": "0"})
    gate = data.gate
    if gate is None:
        why = ("the suite declares no gate" if data.spec is None
               else "the gate could not be evaluated: " + "; ".join(data.notes))
        ET.SubElement(case, "skipped", {"message": _x(why, 1000)})
        return case, "skipped"
    lines = [f"{c.outcome.upper()} {c.rule} {c.metric}: {c.reason}" for c in gate.checks]
    lines += [f"warning: {w}" for w in gate.warnings]
    lines += [f"MDE {k}: {v.mde:.4g} ({v.basis})" for k, v in gate.mde.items()]
    detail = _x("\n".join(lines))
    first = (gate.violations or gate.inconclusive or ())
    message = gate.verdict + (f": {first[0].reason}" if first else "")
    if gate.verdict == "FAIL" or (gate.verdict == "INCONCLUSIVE" and gate.exit_code != 0):
        fail = ET.SubElement(case, "failure", {
            "message": _x(message, 1000),
            "type": "GateFailed" if gate.verdict == "FAIL" else "GateInconclusive"})
        fail.text = detail
        return case, "failure"
    if gate.verdict == "INCONCLUSIVE":
        ET.SubElement(case, "skipped", {"message": _x(
            f"{message} (on_inconclusive: {gate.on_inconclusive})", 1000)})
        out = ET.SubElement(case, "system-out")
        out.text = detail
        return case, "skipped"
    out = ET.SubElement(case, "system-out")
    out.text = detail
    return case, "pass"


def _case(row: CaseRow, classname: str) -> tuple[ET.Element, str]:
    case = ET.Element("testcase", {"classname": classname, "name": _x(row.case_id, 500),
                                   "time": f"{row.latency_s:.3f}"})
    counts = f"completed {row.successes}/{row.n} trials"
    if row.base_n is not None:
        counts += f" (baseline {row.base_successes}/{row.base_n})"
    if row.errors:
        counts += f"; {row.errors} trial(s) ended in error/timeout"
    if row.tool_errors:
        counts += f"; {row.tool_errors} failed tool call(s)"
    tags = f"tags: {', '.join(row.tags)}" if row.tags else "tags: none"
    if row.status == "fail":
        kind = "CaseRegressed" if row.flip == "regressed" else "CaseFailed"
        fail = ET.SubElement(case, "failure", {"message": _x(row.reason, 1000), "type": kind})
        fail.text = _x(f"{counts}\n{tags}")
        return case, "failure"
    if row.status == "n/a":
        err = ET.SubElement(case, "error", {"message": _x(row.reason or "no defined completion",
                                                          1000), "type": "NoDefinedCompletion"})
        err.text = _x(f"{counts}\n{tags}")
        return case, "error"
    out = ET.SubElement(case, "system-out")
    out.text = _x(f"{counts}{'; improved vs baseline' if row.flip == 'improved' else ''}\n"
                  f"{tags}")
    return case, "pass"


def junit_xml(data: ReportData) -> str:
    """The report as a JUnit XML document (UTF-8 text with an XML declaration)."""
    suite = data.suite_name
    elements = [_gate_case(data, f"evalkit.{suite}")]
    elements += [_case(row, f"evalkit.{suite}.cases") for row in data.cases]
    outcomes = [o for _, o in elements]
    total_time = sum(r.latency_s for r in data.cases)
    attrs = {
        "tests": str(len(elements)),
        "failures": str(outcomes.count("failure")),
        "errors": str(outcomes.count("error")),
        "skipped": str(outcomes.count("skipped")),
        "time": f"{total_time:.3f}",
    }
    root = ET.Element("testsuites", {"name": "evalkit", **{k: attrs[k] for k in
                                                          ("tests", "failures", "errors",
                                                           "time")}})
    started = _TIMESTAMP.match(str(data.run.manifest.get("started_at") or ""))
    ts = ET.SubElement(root, "testsuite", {
        "name": _x(f"evalkit.{suite}"), **attrs,
        "timestamp": started.group(0) if started else "1970-01-01T00:00:00",
        "id": "0", "package": _x(f"evalkit.{suite}"),
    })
    props = ET.SubElement(ts, "properties")
    for name, value in _properties(data).items():
        ET.SubElement(props, "property", {"name": _x(name), "value": _x(value, 2000)})
    for element, _ in elements:
        ts.append(element)
    ET.SubElement(ts, "system-out").text = _x(
        f"evalkit {data.verdict or 'no verdict'}: {len(data.cases)} cases, "
        f"{outcomes.count('failure')} failures")
    ET.SubElement(ts, "system-err").text = ""
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
