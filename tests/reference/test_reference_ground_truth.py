"""The datasets agree with the corpus, and the suites load and name real scorers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.dataset import load_dataset
from evalkit.reference.corpus import default_corpus, normalize_ws, sentences
from evalkit.reference.faults import FaultConfig
from evalkit.reference.prompting import load_prompt

REPO = Path(__file__).resolve().parents[2]
SUITES = ["pydocs_workflow", "pydocs_researcher", "pydocs_smoke", "pydocs_faults"]


def _norm(text: str) -> str:
    return re.sub(r"[\"*`“”‘’]", "", normalize_ws(text)).lower()


def test_qa_dataset_shape():
    ds = load_dataset(REPO / "datasets/pydocs_qa")
    assert ds.version == "1.0.0"
    assert len(ds) >= 60
    tags = {t for c in ds.cases for t in c.tags}
    assert tags == {"happy", "edge", "adversarial", "past-failure"}
    kinds = {c.metadata["kind"] for c in ds.cases}
    assert kinds == {"answerable", "injection", "unanswerable"}
    for case in ds.cases:
        assert case.cluster
        must_decline = case.metadata["kind"] != "answerable"
        assert case.expected["should_decline"] is must_decline, case.id
        assert bool(case.expected["facts"]) is not must_decline, case.id


def test_every_fact_is_in_the_prose_of_an_expected_topic():
    corpus = default_corpus()
    ds = load_dataset(REPO / "datasets/pydocs_qa")
    prose = {d: _norm(" || ".join(sentences(corpus.get(d).text))) for d in corpus.doc_ids}
    for case in ds.cases:
        for doc_id in case.expected["doc_ids"]:
            assert doc_id in corpus, (case.id, doc_id)
        for fact in case.expected["facts"]:
            holders = [d for d in case.expected["doc_ids"] if _norm(fact) in prose[d]]
            assert holders, f"{case.id}: fact {fact!r} is in none of its doc_ids"


def test_retrieval_dataset_refers_to_real_topics():
    corpus = default_corpus()
    ds = load_dataset(REPO / "datasets/pydocs_retrieval")
    assert len(ds) >= 40
    for case in ds.cases:
        assert case.expected["primary"] in case.expected["doc_ids"]
        assert all(d in corpus for d in case.expected["doc_ids"]), case.id


@pytest.mark.parametrize("name", SUITES)
def test_suites_load_and_build_their_scorers(name):
    from evalkit.scorer import build_scorers
    from evalkit.suite import load_suite

    suite = load_suite(REPO / "suites" / f"{name}.yaml")
    assert suite.spec.target.startswith("evalkit.reference.pipeline:")
    scorers = build_scorers(suite.spec.scorers)
    assert any(s.spec.completion for s in scorers)
    suite.gate_spec()
    FaultConfig.parse(suite.spec.faults)
    for agent in ("researcher", "writer", "verifier"):
        load_prompt(agent, suite.spec.params.get("prompt_version", "v1"))
    dataset = suite.load_dataset()
    cases = dataset.select(ids=suite.spec.cases or None, tags=suite.spec.tags or None)
    assert cases


def test_fault_suite_injects_a_substantial_failure_rate():
    from evalkit.suite import load_suite

    faults = FaultConfig.parse(load_suite(REPO / "suites/pydocs_faults.yaml").spec.faults)
    for tool in ("search_docs", "read_doc"):
        assert 0.2 <= faults.rates(tool).failing <= 0.4
    assert faults.slow_s < faults.timeout_s
