"""Retrieval metrics from ir-measures (pytrec_eval) held to the hand-written definitions, the TREC run file, and the
friendly error without the package."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import ir_measures
import pytest

from atlas_qa.cli import main
from atlas_qa.errors import AtlasError
from atlas_qa.evaluate import Question, evaluate, mrr_at, ndcg_at, recall_at
from atlas_qa.evaluate.metrics import standard_metrics, write_trec_qrels, write_trec_run

from ..conftest import DATA
from .fakes import QUESTIONS, RANKINGS, fake_search

KEYS = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]


def _by_hand(ranked: list[str], gold: tuple[str, ...]) -> dict[str, float]:
    return {
        "recall@1": recall_at(ranked, gold, 1),
        "recall@5": recall_at(ranked, gold, 5),
        "recall@10": recall_at(ranked, gold, 10),
        "mrr@10": mrr_at(ranked, gold, 10),
        "ndcg@10": ndcg_at(ranked, gold, 10),
    }


def test_standard_metrics_equal_the_hand_written_ones():
    rng = random.Random(7)
    pages = [f"p{i}" for i in range(15)]
    rankings, gold = {}, {}
    for i in range(40):  # one to three gold pages, rankings of 0 to 12 pages, some without any gold page
        rankings[f"q{i}"] = rng.sample(pages, rng.randint(0, 12))
        gold[f"q{i}"] = tuple(rng.sample(pages, rng.randint(1, 3)))
    scored = standard_metrics(rankings, gold, KEYS)
    for qid in gold:
        assert scored[qid] == pytest.approx(_by_hand(rankings[qid], gold[qid]), abs=1e-9), qid


def test_evaluate_reports_the_fake_rankings():
    report = evaluate(fake_search, QUESTIONS)
    assert report.metrics["mrr@10"] == round((1 + 1 / 2 + 1 / 6 + 0) / 4, 4)
    assert report.metrics["recall@5"] == 0.5 and report.curve[6] == 0.75
    assert report.rankings["q3"] == RANKINGS["compare regimes"]


def test_trec_run_and_qrels_score_the_same_with_ir_measures(tmp_path: Path):
    report = evaluate(fake_search, QUESTIONS)
    run = write_trec_run(tmp_path / "run.txt", report.rankings, "atlas-qa-hybrid")
    qrels = write_trec_qrels(tmp_path / "qrels.txt", QUESTIONS)
    assert run.read_text().splitlines()[:3] == [
        "q1 Q0 p1 1 2 atlas-qa-hybrid",
        "q1 Q0 p9 2 1 atlas-qa-hybrid",
        "q2 Q0 p9 1 2 atlas-qa-hybrid",
    ]
    measured = ir_measures.calc_aggregate(
        [ir_measures.RR @ 10], ir_measures.read_trec_qrels(str(qrels)), ir_measures.read_trec_run(str(run))
    )
    # trec_eval averages over the questions with a ranking (all four here).
    assert measured[ir_measures.RR @ 10] == pytest.approx(report.metrics["mrr@10"], abs=1e-4)


def test_duplicate_question_ids_are_refused():
    twice = [Question("q1", "what is power", ("p1",)), Question("q1", "who wrote leviathan", ("p2",))]
    with pytest.raises(AtlasError, match="used twice"):
        evaluate(fake_search, twice)


def test_missing_ir_measures_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ir_measures", None)
    with pytest.raises(AtlasError, match=r"pip install 'atlas-qa\[eval\]'"):
        standard_metrics({"q": ["p"]}, {"q": ["p"]}, ["mrr@10"])


def test_eval_command_writes_run_files(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_QA_MODEL", "hash-64")
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "What are de jure rules?", "gold_page": "m00002"},
        {"id": "b", "question": "What is a constitution?", "gold_page": "m00003"},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["eval", str(questions), "--corpus", str(DATA / "polisci"), "--json", "--retriever", "all"]
    assert main([*argv, "--run-out", str(tmp_path / "runs" / "book.run")]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("hybrid", "rrf", "dense", "bm25"):
        lines = (tmp_path / "runs" / f"book.{name}.run").read_text().splitlines()
        assert lines[0].split()[:2] == ["a", "Q0"] and lines[0].endswith(f"atlas-qa-{name}")
        assert {line.split()[0] for line in lines} == {"a", "b"}
    assert (tmp_path / "runs" / "book.qrels").read_text() == "a 0 m00002 1\nb 0 m00003 1\n"
    assert set(out["retrievers"]) == {"hybrid", "rrf", "dense", "bm25"}
