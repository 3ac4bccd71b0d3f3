import json
import math
import sys
import types

import pytest
from pydantic import BaseModel

from evalkit.errors import ConfigError
from evalkit.scorer import build_scorers
from evalkit.scorer._structured import NotJson, parse_json_value, parse_number

# -- json-valid -----------------------------------------------------------------------


def test_parse_json_value():
    assert parse_json_value('{"a": 1}') == {"a": 1}
    assert parse_json_value({"a": 1}) == {"a": 1}
    assert parse_json_value("Here:\n```json\n[1, 2]\n```", extract=True) == [1, 2]
    with pytest.raises(NotJson, match="line 1 column 2"):
        parse_json_value("{oops}")
    with pytest.raises(NotJson, match="is empty"):
        parse_json_value("   ")
    with pytest.raises(NotJson, match="is null"):
        parse_json_value(None)
    with pytest.raises(NotJson, match="contains no JSON"):
        parse_json_value("no braces { here", extract=True)


def test_json_valid(run_scorer, make_view):
    assert run_scorer({"type": "json-valid"}, make_view('{"answer": "ü"}')).passed
    row = run_scorer({"type": "json-valid"}, make_view("```json\n{}\n```"))
    assert not row.passed
    assert "is not valid JSON" in row.reason
    assert run_scorer({"type": "json-valid", "extract": True}, make_view("```json\n{}\n```")).passed
    assert run_scorer({"type": "json-valid"}, make_view({"already": "parsed"})).passed
    assert "output is empty" in run_scorer({"type": "json-valid"}, make_view("")).reason
    row = run_scorer({"type": "json-valid", "actual": "output.raw"}, make_view({}))
    assert not row.passed
    assert "output.raw is missing" in row.reason


# -- json-schema ----------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["answer", "citations"],
    "properties": {"answer": {"type": "string", "minLength": 1},
                   "citations": {"type": "array", "items": {"type": "string"}}},
}


def test_json_schema_valid_and_first_error_located(run_scorer, make_view):
    spec = {"type": "json-schema", "schema": SCHEMA}
    assert run_scorer(spec, make_view({"answer": "x", "citations": ["d1"]})).passed
    row = run_scorer(spec, make_view('{"answer": "x", "citations": ["d1", 2]}'))
    assert not row.passed
    assert row.reason == "output at $.citations[1]: 2 is not of type 'string'"
    row = run_scorer(spec, make_view({"citations": []}))
    assert "'answer' is a required property" in row.reason


def test_json_schema_from_file_and_from_case(run_scorer, make_view, tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    assert run_scorer({"type": "json-schema", "schema_file": str(path)},
                      make_view({"answer": "x", "citations": []})).passed
    view = make_view({"n": "1"}, expected={"schema": {"properties": {"n": {"type": "integer"}}}})
    row = run_scorer({"type": "json-schema", "expected": "expected.schema"}, view)
    assert not row.passed
    assert "$.n" in row.reason


def test_json_schema_config_errors():
    with pytest.raises(ConfigError, match="exactly one of"):
        build_scorers([{"type": "json-schema"}])
    with pytest.raises(ConfigError, match="invalid JSON Schema"):
        build_scorers([{"type": "json-schema", "schema": {"type": "nope"}}])
    with pytest.raises(ConfigError, match="cannot read schema_file"):
        build_scorers([{"type": "json-schema", "schema_file": "/nonexistent.json"}])


def test_json_schema_empty_and_unparseable(run_scorer, make_view):
    spec = {"type": "json-schema", "schema": SCHEMA}
    assert "output is empty" in run_scorer(spec, make_view("")).reason
    assert "not valid JSON" in run_scorer(spec, make_view("answer: x")).reason


# -- pydantic -------------------------------------------------------------------------


class Answer(BaseModel):
    answer: str
    confidence: float


@pytest.fixture
def answer_model(monkeypatch):
    module = types.ModuleType("scorer_test_models")
    module.Answer = Answer  # type: ignore[attr-defined]
    module.not_a_model = 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scorer_test_models", module)
    return "scorer_test_models:Answer"


def test_pydantic_check(run_scorer, make_view, answer_model):
    spec = {"type": "pydantic", "model": answer_model}
    assert run_scorer(spec, make_view('{"answer": "é", "confidence": 0.5}')).passed
    assert run_scorer(spec, make_view({"answer": "x", "confidence": "0.5"})).passed
    row = run_scorer({**spec, "strict": True}, make_view({"answer": "x", "confidence": "0.5"}))
    assert not row.passed
    assert "confidence" in row.reason
    row = run_scorer(spec, make_view({"answer": "x"}))
    assert row.reason == "output is not a valid Answer: confidence: Field required"
    row = run_scorer(spec, make_view({}))
    assert "(+1 more)" in row.reason
    assert "output is empty" in run_scorer(spec, make_view("")).reason


def test_pydantic_config_errors(answer_model):
    with pytest.raises(ConfigError, match="cannot import model"):
        build_scorers([{"type": "pydantic", "model": "no_such_module_xyz:M"}])
    with pytest.raises(ConfigError, match="not a pydantic model"):
        build_scorers([{"type": "pydantic", "model": "scorer_test_models:not_a_model"}])


# -- numeric --------------------------------------------------------------------------


def test_parse_number():
    assert parse_number(3) == 3.0
    assert parse_number(" 1,234.5 ") == 1234.5
    assert parse_number("\u22123") == -3.0
    assert parse_number("١٢") == 12.0  # Arabic-Indic digits
    assert parse_number("It took 3 tries and 12.5 s", "first") == 3.0
    assert parse_number("It took 3 tries and 12.5 s", "last") == 12.5
    for bad in (True, None, "", "abc", "nan", [1]):
        with pytest.raises(ValueError):
            parse_number(bad)


def test_numeric_tolerances(run_scorer, make_view):
    assert run_scorer({"type": "numeric", "value": 10}, make_view(10.0)).passed
    assert not run_scorer({"type": "numeric", "value": 10}, make_view(10.001)).passed
    assert run_scorer({"type": "numeric", "value": 10, "abs_tol": 0.01}, make_view("10.005")).passed
    row = run_scorer({"type": "numeric", "value": 200, "rel_tol": 0.01}, make_view(203))
    assert not row.passed
    assert row.reason == "output = 203, off by 3 from 200 (tolerance 2)"
    assert run_scorer({"type": "numeric", "value": 200, "rel_tol": 0.02}, make_view(203)).passed


def test_numeric_extract_and_edge_cases(run_scorer, make_view):
    spec = {"type": "numeric", "expected": "expected.n", "extract": "last"}
    assert run_scorer(spec, make_view("The answer is 42.", expected={"n": "42"})).passed
    assert "contains no number" in run_scorer(spec, make_view("none", expected={"n": 1})).reason
    assert "expected.n is missing" in run_scorer(spec, make_view("1")).reason
    row = run_scorer({"type": "numeric", "value": 1}, make_view(""))
    assert "output is empty, not a number" in row.reason
    row = run_scorer({"type": "numeric", "value": "x"}, make_view(1))
    assert row.reason.startswith("reference ")
    assert not run_scorer({"type": "numeric", "value": 1}, make_view(math.inf)).passed


# -- set-f1 ---------------------------------------------------------------------------


def test_set_f1_hand_computed(run_scorer, make_view):
    # predicted {a, b, c, d}, gold {a, b, e}: tp 2, P = 2/4, R = 2/3, F1 = 4/7
    view = make_view(["a", "b", "c", "d"], expected={"ids": ["a", "b", "e"]})
    row = run_scorer({"type": "set-f1", "expected": "expected.ids"}, view)
    assert row.value == pytest.approx(4 / 7)
    assert row.details["precision"] == 0.5
    assert row.details["recall"] == pytest.approx(2 / 3)
    assert row.details["missing"] == ["e"]
    assert row.details["extra"] == ["c", "d"]
    assert "missing 'e'" in row.reason
    assert "extra 'c', 'd'" in row.reason
    row = run_scorer({"type": "set-f1", "expected": "expected.ids", "measure": "recall",
                      "threshold": 0.6}, view)
    assert row.value == pytest.approx(2 / 3)
    assert row.passed


def test_set_f1_conventions_and_normalising(run_scorer, make_view):
    spec = {"type": "set-f1", "value": []}
    assert run_scorer(spec, make_view([])).value == 1.0
    assert run_scorer({"type": "set-f1", "value": ["a"]}, make_view([])).value == 0.0
    assert run_scorer({"type": "set-f1", "value": [], "measure": "recall"},
                      make_view(["x"])).value == 1.0
    spec = {"type": "set-f1", "value": ["Os.Path", "sys"], "case_sensitive": False}
    assert run_scorer(spec, make_view([" os.path", "SYS", "sys"])).value == 1.0
    spec = {"type": "set-f1", "value": ["a", "b"], "split": ","}
    assert run_scorer(spec, make_view("a, b,")).value == 1.0
    assert run_scorer({"type": "set-f1", "value": [{"k": 1}]}, make_view([{"k": 1}])).value == 1.0


def test_set_f1_wrong_kinds_are_failed_checks(run_scorer, make_view):
    row = run_scorer({"type": "set-f1", "value": ["a"]}, make_view("a,b"))
    assert not row.passed
    assert "set 'split'" in row.reason
    row = run_scorer({"type": "set-f1", "value": ["a"]}, make_view(3))
    assert "output is int, not a list" in row.reason
    row = run_scorer({"type": "set-f1", "expected": "expected.ids"}, make_view(["a"]))
    assert "expected.ids is missing" in row.reason
