"""JUnit XML: valid against the JUnit schema, one testcase per case plus the gate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evalkit.report import load_report, render_junit

XSD = Path(__file__).with_name("junit-10.xsd")


@pytest.fixture(scope="module")
def schema():  # type: ignore[no-untyped-def]
    xmlschema = pytest.importorskip("xmlschema", reason="pip install xmlschema (dev extra)")
    return xmlschema.XMLSchema(str(XSD))


def test_valid_and_one_testcase_per_case(compare_run: Path, schema) -> None:  # type: ignore[no-untyped-def]
    text = render_junit(compare_run)
    schema.validate(text)
    data = load_report(compare_run)
    root = ET.fromstring(text)
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(data.cases) + 1
    assert suite.get("tests") == str(len(cases))
    failures = [c for c in cases if c.find("failure") is not None]
    assert suite.get("failures") == str(len(failures))
    gate = cases[0]
    assert gate.get("name") == "gate verdict"
    assert data.verdict in {"FAIL", "INCONCLUSIVE"}
    gate_failure = gate.find("failure")
    assert gate_failure is not None
    assert gate_failure.get("message", "").startswith(data.verdict)
    by_name = {c.get("name"): c for c in cases[1:]}
    for row in data.regressed:
        failure = by_name[row.case_id].find("failure")
        assert failure is not None
        assert failure.get("type") == "CaseRegressed"
        assert "regressed vs baseline" in failure.get("message", "")
    passing = [r for r in data.cases if r.status == "pass"]
    assert passing
    assert all(by_name[r.case_id].find("failure") is None for r in passing)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["evalkit.dataset_hash"].startswith("sha256:")
    assert props["evalkit.verdict"] == data.verdict
    assert "evalkit.git_sha" in props
    assert "evalkit.mde.completion_rate" in props


def test_control_characters_and_markup_survive(compare_run: Path, schema) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    data = load_report(compare_run)
    rows = tuple(dataclasses.replace(r, case_id=f"bad\x00\x1b<{r.case_id}>&\"", status="fail",
                                     reason="why\x07 <script>") for r in data.cases)
    text = render_junit(dataclasses.replace(data, cases=rows))
    schema.validate(text)
    names = [c.get("name") for c in ET.fromstring(text).iter("testcase")]
    assert f"bad<{data.cases[0].case_id}>&\"" in names


def test_single_run_without_gate_skips_the_gate_case(make_run, schema) -> None:  # type: ignore[no-untyped-def]
    run = make_run("nogate", gate={})
    text = render_junit(run)
    schema.validate(text)
    gate = ET.fromstring(text).find("testsuite/testcase")
    assert gate is not None
    assert gate.find("skipped") is not None
    assert "no gate" in gate.find("skipped").get("message", "")  # type: ignore[union-attr]
