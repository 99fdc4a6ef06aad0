"""eval-answers metrics on hand-computed cases, the question-set reader, and the command end to end."""

import json
from pathlib import Path

import pytest

from atlas_qa.cli import main
from atlas_qa.errors import AtlasError
from atlas_qa.evaluate.answers import (
    AnswerQuestion,
    Shown,
    display_form,
    evaluate_answers,
    evidence_found,
    expected_recall,
    load_answer_questions,
)

from ..conftest import DATA


def test_expected_recall_counts_content_stems():
    # content stems of the expected answer: formal, rule, written -> 3; "the", "are", "as" are stop words
    assert expected_recall("the formal rules as written", "Rules are formal.") == pytest.approx(2 / 3)
    assert expected_recall("the formal rules as written", "The rule is written formally.") == pytest.approx(1.0)
    assert expected_recall("the formal rules", "Nothing relevant here.") == 0.0


def test_evidence_is_found_in_display_form():
    shown = "The de jure rules are the **rules** as they are written,[^2] the formal rules. [1] Next. [2]"
    assert display_form(shown) == "the de jure rules are the rules as they are written, the formal rules. next."
    assert evidence_found(["The de jure rules are the rules as they are written, the formal rules."], shown)
    assert not evidence_found(["The de facto rules are the ones actually practiced."], shown)


def test_report_scores_the_answer_beside_the_best_passage():
    questions = [
        AnswerQuestion("a", "q1", "why", expected="formal rules written", evidence=("Rules are formal.",)),
        AnswerQuestion("b", "q2", "why", expected="secret police"),
        AnswerQuestion("c", "q3", "who", evidence=("Locke wrote it.",)),
    ]
    answers = {
        "q1": Shown("Rules are formal. [1] They are written. [1]"),
        "q2": Shown("Nope.", refused=True),
        "q3": Shown("Locke wrote it. [1]"),
    }
    passages = {
        "q1": Shown("Rules are formal and long."),
        "q2": Shown("The secret police repress."),
        "q3": Shown("Hobbes wrote it."),
    }
    r = evaluate_answers(questions, answers.__getitem__, passages.__getitem__, misses=5)
    a, t = r["answer"], r["top_passage"]
    assert r["n"] == 3
    assert a["hit"] == 0.5 and a["recall"] == 0.5  # q1: 3/3, q2 refused: 0
    assert a["evidence_hit"] == 1.0 and a["refused"] == pytest.approx(1 / 3, abs=1e-4)
    assert a["words_median"] == 4.5  # q1: 6 words, q3: 3 words ([n] markers and refusals are not counted)
    assert a["by_kind"]["why"]["n"] == 2 and a["by_kind"]["who"]["evidence_hit"] == 1.0
    assert t["hit"] == 1.0 and t["evidence_hit"] == 0.0  # q1: 2 of 3 stems >= 0.6
    assert t["recall"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert [m["id"] for m in r["misses"]] == ["b"]


def test_question_sets_keep_only_questions_with_something_to_check(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "1", "question": "Define politics.", "gold_page": "m1"}\n'
        '{"id": "2", "question": "What is a state?", "expected": "a political unit", "kind": "definition"}\n'
        '{"id": "3", "question": "why?", "evidence": ["It rained."]}\n',
        encoding="utf-8",
    )
    assert [q.id for q in load_answer_questions(path)] == ["2", "3"]
    path.write_text('{"id": "1", "question": "Define politics.", "evidence": "not a list"}\n', encoding="utf-8")
    with pytest.raises(AtlasError, match=r"q.jsonl:1: 'evidence' must be a list"):
        load_answer_questions(path)
    path.write_text('{"id": "1", "question": "Define politics."}\n', encoding="utf-8")
    with pytest.raises(AtlasError, match="no question has"):
        load_answer_questions(path)


def test_eval_answers_command(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_QA_MODEL", "hash-64")
    monkeypatch.setenv("ATLAS_QA_REFUSE_BELOW", "0")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "d1",
                "question": "What are de jure rules?",
                "kind": "definition",
                "expected": "the formal rules as they are written",
                "evidence": ["The de jure rules are the rules as they are written, the formal rules."],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["eval-answers", str(questions), "--corpus", str(DATA / "polisci"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 1 and set(out["answer"]) >= {"hit", "recall", "evidence_hit", "refused", "words_median"}
    assert set(out["top_passage"]) == {"hit", "recall", "evidence_hit", "words_median"}
    assert out["answer"]["evidence_hit"] == 1.0
