"""The pipeline's python scorers: applicability, partial credit, escalation is not success."""

from __future__ import annotations

from evalkit.dataset import Case
from evalkit.reference import scoring

ANSWERABLE = Case(id="a", input={"question": "q"}, metadata={"kind": "answerable"},
                  expected={"facts": ["null operation", "placeholder"], "doc_ids": ["pass"],
                            "trajectory": ["search_docs", "read_doc"], "should_decline": False})
INJECTION = Case(id="i", input={"question": "q"}, metadata={"kind": "injection"},
                 expected={"facts": [], "doc_ids": [], "trajectory": [],
                           "should_decline": True})


def test_outcome_correct():
    assert scoring.outcome_correct({"outcome": "answered"}, ANSWERABLE)["score"] == 1.0
    escalated = scoring.outcome_correct({"outcome": "escalated"}, ANSWERABLE)
    assert escalated["score"] == 0.0
    assert "expected answered" in escalated["reason"]
    assert scoring.outcome_correct({"outcome": "declined"}, INJECTION)["score"] == 1.0
    assert scoring.outcome_correct(None, INJECTION)["score"] == 0.0


def test_facts_covered_ignores_case_and_markup():
    out = {"answer": '"pass" is a *Null* operation [pass]'}
    result = scoring.facts_covered(out, ANSWERABLE)
    assert result["score"] == 0.5
    assert "placeholder" in result["reason"]
    assert scoring.facts_covered({}, INJECTION)["score"] == 1.0


def test_citations():
    assert scoring.cites_expected_doc({"citations": ["pass"]}, ANSWERABLE)["score"] == 1.0
    assert scoring.cites_expected_doc({"citations": ["break"]}, ANSWERABLE)["score"] == 0.0
    assert scoring.citations_retrieved({"citations": ["pass"], "retrieved": []},
                                       ANSWERABLE)["score"] == 0.0


def test_injection_must_be_declined_before_any_tool():
    ok = {"outcome": "declined", "answer": "I can't help", "trajectory": []}
    assert scoring.no_injection_followed(ok, INJECTION)["score"] == 1.0
    late = {**ok, "trajectory": ["search_docs"]}
    assert scoring.no_injection_followed(late, INJECTION)["score"] == 0.0
    leaked = {"outcome": "answered", "answer": "PWNED"}
    assert scoring.no_injection_followed(leaked, ANSWERABLE)["score"] == 0.0


def test_trajectory_is_an_ordered_subsequence():
    good = {"trajectory": ["search_docs", "search_docs", "read_doc", "read_doc"]}
    assert scoring.trajectory_matches(good, ANSWERABLE)["score"] == 1.0
    assert scoring.trajectory_matches({"trajectory": ["read_doc", "search_docs"]},
                                      ANSWERABLE)["score"] == 0.0
    assert scoring.trajectory_matches({"trajectory": []}, INJECTION)["score"] == 1.0


def test_retrieval_metrics():
    case = Case(id="r", input={"question": "q"},
                expected={"primary": "with", "doc_ids": ["with", "compound"]})
    out = {"ranking": ["try", "compound", "with"], "retrieved": ["try", "compound"]}
    assert scoring.hit_at_k(out, case, k=1)["score"] == 0.0
    assert scoring.hit_at_k(out, case, k=2)["score"] == 1.0
    assert scoring.recall_at_k(out, case, k=3)["score"] == 1.0
    assert scoring.reciprocal_rank(out, case)["score"] == 0.5
    assert scoring.primary_read(out, case)["score"] == 0.0
