import random

import pytest

from evalkit.errors import ConfigError
from evalkit.scorer import build_scorers
from evalkit.scorer._text import levenshtein


def _dp_levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


# -- contains-any / contains-all ------------------------------------------------------


def test_contains_any_finds_one_needle(run_scorer, make_view):
    row = run_scorer({"type": "contains-any", "value": ["json", "pickle"]},
                     make_view("Use the pickle module."))
    assert row.passed
    assert row.value == 1.0
    assert "'pickle'" in row.reason


def test_contains_any_none_found_lists_needles(run_scorer, make_view):
    row = run_scorer({"type": "contains-any", "value": ["json", "pickle"]}, make_view("csv"))
    assert not row.passed
    assert "none of 'json', 'pickle'" in row.reason


def test_contains_any_case_insensitive(run_scorer, make_view):
    spec = {"type": "contains-any", "value": ["PICKLE"], "case_sensitive": False}
    assert run_scorer(spec, make_view("use pickle")).passed
    assert not run_scorer({**spec, "case_sensitive": True}, make_view("use pickle")).passed


def test_contains_all_partial_credit_and_missing_named(run_scorer, make_view):
    spec = {"type": "contains-all", "value": ["open", "close", "with"]}
    row = run_scorer(spec, make_view("Call open() and then close()."))
    assert row.value == pytest.approx(2 / 3)
    assert not row.passed
    assert "lacks 1 of 3: 'with'" in row.reason


def test_contains_all_from_expected_path(run_scorer, make_view):
    spec = {"type": "contains-all", "expected": "expected.facts"}
    view = make_view("len() returns the number of items", expected={"facts": ["len", "items"]})
    assert run_scorer(spec, view).passed


def test_contains_all_over_list_output(run_scorer, make_view):
    spec = {"type": "contains-all", "value": ["a", "b"]}
    assert run_scorer(spec, make_view(["a", "b", "c"])).passed
    assert run_scorer(spec, make_view(["a"])).value == 0.5


def test_contains_unicode_is_normalised(run_scorer, make_view):
    # "é" precomposed vs "e" + combining acute: NFC makes them equal.
    spec = {"type": "contains-all", "value": ["caf\u00e9", "naïve"]}
    assert run_scorer(spec, make_view("un cafe\u0301 naïve")).passed
    spec_ci = {"type": "contains-any", "value": ["STRASSE"], "case_sensitive": False}
    assert run_scorer(spec_ci, make_view("Hauptstraße")).passed  # casefold: ß -> ss


@pytest.mark.parametrize("kind", ["contains-any", "contains-all"])
def test_contains_many_empty_output_and_missing_path(run_scorer, make_view, kind):
    row = run_scorer({"type": kind, "value": ["x"]}, make_view(""))
    assert not row.passed
    assert row.status == "ok"
    assert "output is empty" in row.reason
    row = run_scorer({"type": kind, "value": ["x"], "actual": "output.answer"}, make_view({}))
    assert not row.passed
    assert "output.answer is missing" in row.reason
    row = run_scorer({"type": kind, "expected": "expected.facts"}, make_view("x"))
    assert not row.passed
    assert "expected.facts is missing" in row.reason


def test_contains_many_bad_reference_value(run_scorer, make_view):
    row = run_scorer({"type": "contains-all", "expected": "expected.n"},
                     make_view("x", expected={"n": 3}))
    assert not row.passed
    assert "not a non-empty list" in row.reason
    with pytest.raises(ConfigError, match=r"scorers\[0\]"):
        build_scorers([{"type": "contains-all", "value": []}])


# -- starts-with ----------------------------------------------------------------------


def test_starts_with(run_scorer, make_view):
    spec = {"type": "starts-with", "value": "Yes"}
    assert run_scorer(spec, make_view("  Yes, it does.")).passed
    row = run_scorer(spec, make_view("No, it does not."))
    assert not row.passed
    assert row.reason == "output starts with 'No, it does n', expected prefix 'Yes'"
    assert "is empty" in run_scorer(spec, make_view("")).reason
    assert run_scorer({**spec, "case_sensitive": False}, make_view("yes")).passed
    assert run_scorer({"type": "starts-with", "value": "Ünïcode"}, make_view("Ünïcode ✓")).passed


# -- similarity -----------------------------------------------------------------------


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "") == 3
    assert levenshtein("", "") == 0
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("héllo wörld", "hello world") == 2


def test_levenshtein_matches_dynamic_programming():
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("abcé ") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abcé ") for _ in range(rng.randint(0, 70)))
        assert levenshtein(a, b) == _dp_levenshtein(a, b), (a, b)


def test_similarity_score_and_threshold(run_scorer, make_view):
    spec = {"type": "similarity", "value": "sitting"}
    row = run_scorer(spec, make_view("kitten"))
    assert row.value == pytest.approx(1 - 3 / 7)
    assert not row.passed  # default threshold 0.8
    assert "edit distance 3 over 7 chars" in row.reason
    assert run_scorer({**spec, "threshold": 0.5}, make_view("kitten")).passed


def test_similarity_whitespace_case_and_empty(run_scorer, make_view):
    spec = {"type": "similarity", "value": "Hello   World", "case_sensitive": False}
    assert run_scorer(spec, make_view("hello world")).value == 1.0
    row = run_scorer(spec, make_view(""))
    assert row.value == 0.0
    assert "output is empty" in row.reason
    assert run_scorer({"type": "similarity", "value": ""}, make_view("")).value == 1.0


# -- length ---------------------------------------------------------------------------


def test_length_chars_words_lines_items(run_scorer, make_view):
    assert run_scorer({"type": "length", "max": 5}, make_view("héllo")).passed  # 5 code points
    row = run_scorer({"type": "length", "min": 3, "unit": "words"}, make_view("two words"))
    assert not row.passed
    assert row.reason == "output has 2 words, fewer than 3"
    row = run_scorer({"type": "length", "max": 1, "unit": "lines"}, make_view("a\n\nb\n"))
    assert not row.passed
    assert "2 lines, more than 1" in row.reason
    assert run_scorer({"type": "length", "min": 2, "max": 2, "unit": "items"},
                      make_view(["a", "b"])).passed


def test_length_edge_cases(run_scorer, make_view):
    assert "0 chars, fewer than 1" in run_scorer({"type": "length", "min": 1},
                                                  make_view("")).reason
    assert run_scorer({"type": "length", "max": 0}, make_view(None)).passed
    row = run_scorer({"type": "length", "min": 1, "unit": "items"}, make_view("text"))
    assert not row.passed
    assert "not a list" in row.reason
    row = run_scorer({"type": "length", "min": 1, "actual": "output.answer"}, make_view({}))
    assert "output.answer is missing" in row.reason
    with pytest.raises(ConfigError, match="give 'min', 'max' or both"):
        build_scorers([{"type": "length"}])
    with pytest.raises(ConfigError, match="greater than max"):
        build_scorers([{"type": "length", "min": 5, "max": 2}])


# -- refusal --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that request.",
    "I can\u2019t assist with that.",  # curly apostrophe
    "As an AI language model, I will not provide that.",
    "We are unable to comply with this.",
    "I don't know.",
    "The documentation does not say anything about this.",
    "I couldn't find that in the docs.",
    "  ",
])
def test_refusal_detected(run_scorer, make_view, text):
    row = run_scorer({"type": "refusal"}, make_view(text))
    assert row.passed, row.reason


@pytest.mark.parametrize("text", [
    "Use json.dumps() to serialise an object.",
    "The with statement closes the file even if an exception is raised.",
    "I can explain: len() returns the number of items.",
    "Ça dépend: utilisez pathlib.",
])
def test_refusal_not_detected(run_scorer, make_view, text):
    row = run_scorer({"type": "refusal"}, make_view(text))
    assert not row.passed
    assert row.reason == "output neither refuses nor abstains"


def test_refusal_negate_means_must_not_refuse(run_scorer, make_view):
    spec = {"type": "refusal", "negate": True}
    assert run_scorer(spec, make_view("Use json.dumps().")).passed
    row = run_scorer(spec, make_view("I cannot help with that."))
    assert not row.passed
    assert row.reason.startswith("not: output refuses/abstains")


def test_refusal_kind_extra_phrases_window_and_empty(run_scorer, make_view):
    assert not run_scorer({"type": "refusal", "kind": "refusal"}, make_view("I don't know.")).passed
    assert not run_scorer({"type": "refusal", "kind": "abstention"},
                          make_view("I can't assist with that.")).passed
    spec = {"type": "refusal", "extra_phrases": ["NO COMMENT"]}
    assert run_scorer(spec, make_view("no comment")).passed
    late = "x" * 500 + " I don't know"
    assert not run_scorer({"type": "refusal", "window": 100}, make_view(late)).passed
    assert run_scorer({"type": "refusal"}, make_view(late)).passed
    assert not run_scorer({"type": "refusal", "empty_is_refusal": False}, make_view("")).passed
    assert run_scorer({"type": "refusal", "patterns": [r"\bnope\b"]}, make_view("Nope.")).passed
    with pytest.raises(ConfigError, match="invalid refusal pattern"):
        build_scorers([{"type": "refusal", "patterns": ["("]}])
