from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.suite import load_suite, parse_override


def test_valid_suite_and_overrides(make_suite) -> None:
    path = make_suite(params={"prompt_version": "v1", "nested": {"a": 1}})
    suite = load_suite(path, overrides={"trials": 7, "seed": None},
                       params=[parse_override("prompt_version=v2"),
                               parse_override("nested.b=[1, 2]")])
    assert suite.spec.trials == 7 and suite.spec.seed == 1
    assert suite.spec.params == {"prompt_version": "v2", "nested": {"a": 1, "b": [1, 2]}}
    assert suite.hash.startswith("sha256:")
    assert load_suite(path).hash != suite.hash


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"trails": 3}, "trails", "unknown key"),
        ({"trials": 0}, "trials", "greater than or equal to 1"),
        ({"target": "no_colon"}, "target", "pattern"),
        ({"kind": "system"}, "kind", "component"),
        ({"retry": {"max_attempts": 2, "jitter": True}}, "retry.jitter", "unknown key"),
        ({"scorers": [{"type": "equals", "expected": "expected.answer"},
                      {"type": "regex", "patern": "x"}]}, "scorers[1].patern", "unknown key"),
        ({"scorers": [{"type": "regex", "pattern": "("}]}, "scorers[0]",
         "invalid regular expression"),
        ({"scorers": [{"type": "nonesuch"}]}, "scorers[0].type", "unknown scorer type"),
        ({"scorers": [{"type": "equals"}]}, "scorers[0]", "give either 'expected'"),
    ],
)
def test_errors_name_file_and_key_path(make_suite, overrides, key, message) -> None:
    path = make_suite(**overrides)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    # the first problem's key is the error's key; later ones are listed in the message
    assert info.value.key == key or f"{key}: " in str(info.value)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_required_keys(project: Path) -> None:
    path = project / "suites" / "bad.yaml"
    path.write_text("name: bad\n")
    with pytest.raises(ConfigError, match="required key is missing") as info:
        load_suite(path)
    assert info.value.key in {"dataset", "target"}


def test_invalid_yaml_names_line(project: Path) -> None:
    path = project / "suites" / "bad.yaml"
    path.write_text("name: x\ntrials: [1,\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_suite(path)


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("novalue")
    assert parse_override("t=0.5") == ("t", 0.5)
    assert parse_override("flag=true") == ("flag", True)
    assert parse_override("s=hello world") == ("s", "hello world")
