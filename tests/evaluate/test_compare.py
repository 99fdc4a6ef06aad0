"""Several books at once and paired comparisons: the bootstrap and the tables on hand-computed cases, the set and
manifest readers, `--compare`'s conversion, and `eval-answers --set ... --compare` end to end."""

import json
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.cli import main
from atlas_qa.config import Settings
from atlas_qa.errors import AtlasError, ConfigError
from atlas_qa.evaluate.answers import books_json, compare_results, format_books_table, format_comparison
from atlas_qa.evaluate.datasets import BookSet, load_manifest, parse_book_set
from atlas_qa.evaluate.metrics import Difference, paired_bootstrap
from atlas_qa.evaluate.run import compare_settings

from ..conftest import DATA


def test_identical_runs_differ_by_zero_with_a_zero_interval():
    a = [0.0, 1.0, 1.0, 0.0, 1.0]
    assert paired_bootstrap([(a, list(a))]) == Difference(0.0, 0.0, 0.0)


def test_a_constant_difference_has_a_point_interval():
    assert paired_bootstrap([([0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0])]) == Difference(1.0, 1.0, 1.0)


def test_one_changed_question_of_two():
    # B - A per question is (1, 0): a resample's mean difference is 0 (p 1/4), 0.5 (1/2) or 1 (1/4), so the 2.5th
    # and 97.5th percentiles of 2000 resamples are 0 and 1.
    assert paired_bootstrap([([0.0, 1.0], [1.0, 1.0])]) == Difference(0.5, 0.0, 1.0)


def test_pairs_are_kept_together():
    # Unpaired, two samples of 0/1 would give a wide interval; paired, every question gains exactly 1.
    a = [0.0, 1.0, 0.0, 1.0, 3.0]
    assert paired_bootstrap([(a, [x + 1 for x in a])]) == Difference(1.0, 1.0, 1.0)


def test_groups_are_averaged_and_missing_values_left_out():
    # Book 1 gains 1 on every question, book 2 nothing: the mean over books is 0.5, whatever the books' sizes.
    groups = [([0.0] * 3, [1.0] * 3), ([1.0, None, 0.0, 1.0], [1.0, None, 0.0, 1.0])]
    assert paired_bootstrap(groups) == Difference(0.5, 0.5, 0.5)
    assert paired_bootstrap([([None, None], [1.0, 1.0])]) == Difference(None, None, None)


def test_median_statistic_and_fixed_seed():
    a, b = [10.0, 20.0, 30.0], [12.0, 25.0, 30.0]
    d = paired_bootstrap([(a, b)], "median")
    assert d.diff == 5.0 and d == paired_bootstrap([(a, b)], "median")
    with pytest.raises(AtlasError, match="differ in length"):
        paired_bootstrap([([1.0], [1.0, 2.0])])


def _result(hits: list[bool], words: list[int], refused: list[bool]) -> dict:
    rows = [
        {"hit": h, "recall": float(h), "words": 0 if r else w, "refused": r} for h, w, r in zip(hits, words, refused)
    ]
    top = [{"hit": True, "recall": 1.0, "words": 100, "refused": False} for _ in hits]
    n = len(hits)
    answered = sorted(w for w, r in zip(words, refused) if not r)
    return {
        "n": n,
        "answer": {
            "hit": sum(hits) / n,
            "recall": sum(hits) / n,
            "evidence_hit": None,
            "refused": sum(refused) / n,
            "words_median": float(np.median(answered)),
            "by_kind": {},
        },
        "top_passage": {"hit": 1.0, "recall": 1.0, "evidence_hit": None, "words_median": 100},
        "ask_p50_ms": 1.0,
        "misses": [],
        "rows": {"answer": rows, "top_passage": top},
    }


def test_books_table_and_mean_over_books():
    runs = {
        "soc": _result([True, False], [40, 60], [False, False]),
        "psy": _result([True, True, True, False], [30, 30, 50, 70], [False, False, False, True]),
    }
    summary = books_json(runs)
    assert summary["mean"]["answer"]["hit"] == 0.625  # (0.5 + 0.75) / 2: every book counts the same
    assert summary["mean"]["answer"]["words_median"] == 40.0  # (50 + 30) / 2
    assert summary["mean"]["answer"]["evidence_hit"] is None
    assert "rows" not in summary["books"]["soc"] and "misses" not in summary["books"]["soc"]
    lines = format_books_table(runs).splitlines()
    assert lines[0].split() == ["book", "shown", "n", "hit", "recall", "evidence", "refused", "words"]
    assert lines[2].split() == ["soc", "answer", "2", "0.500", "0.500", "-", "0.000", "50"]
    assert lines[3].split() == ["best", "passage", "1.000", "1.000", "-", "-", "100"]
    assert lines[6].split() == ["mean", "answer", "0.625", "0.625", "-", "0.125", "40"]


def test_comparison_of_two_runs_per_book_and_mean():
    base = {
        "soc": _result([True, False], [40, 60], [False, False]),
        "psy": _result([True, True], [30, 30], [False] * 2),
    }
    other = {
        "soc": _result([True, True], [40, 60], [False, False]),
        "psy": _result([True, True], [30, 30], [False] * 2),
    }
    diffs = compare_results(base, other)
    assert diffs["psy"]["answer"]["hit"] == Difference(0.0, 0.0, 0.0)
    assert diffs["soc"]["answer"]["hit"] == Difference(0.5, 0.0, 1.0)
    assert diffs["mean"]["answer"]["hit"] == Difference(0.25, 0.0, 0.5)
    assert diffs["mean"]["answer"]["words_median"] == Difference(0.0, 0.0, 0.0)
    assert diffs["soc"]["top_passage"]["refused"].diff is None
    text = format_comparison(diffs, "ranker=none")
    assert text.startswith("ranker=none minus the base settings")
    assert "+0.500 [+0.000, +1.000]" in text and "+0.250 [+0.000, +0.500]" in text
    with pytest.raises(AtlasError, match="different books"):
        compare_results(base, {"soc": other["soc"]})


def test_book_set_specs_and_manifest(tmp_path: Path):
    assert parse_book_set("soc=q/questions.jsonl:pages") == BookSet("soc", Path("q/questions.jsonl"), Path("pages"))
    for bad in ("q.jsonl:pages", "soc=q.jsonl", "=q.jsonl:pages"):
        with pytest.raises(AtlasError, match="BOOK=QUESTIONS.jsonl:PAGES"):
            parse_book_set(bad)
    manifest = tmp_path / "sets.yaml"
    manifest.write_text("sets:\n  - {book: soc, questions: soc/q.jsonl, pages: soc/pages, index_dir: idx/soc}\n")
    assert load_manifest(manifest) == [
        BookSet("soc", tmp_path / "soc/q.jsonl", tmp_path / "soc/pages", tmp_path / "idx/soc")
    ]
    manifest.write_text(
        json.dumps([{"book": "a", "questions": "q", "pages": "p"}, {"book": "a", "questions": "q", "pages": "p"}])
    )
    with pytest.raises(AtlasError, match="listed twice"):
        load_manifest(manifest)
    manifest.write_text(json.dumps([{"book": "a", "questions": "q"}]))
    with pytest.raises(AtlasError, match="set 1: 'pages'"):
        load_manifest(manifest)


def test_compare_converts_the_value_like_the_environment():
    assert compare_settings(Settings(k=3), "refuse_below=0.4") == ("refuse_below=0.4", {"refuse_below": 0.4})
    assert compare_settings(Settings(), "log_show_names=yes")[1] == {"log_show_names": True}
    with pytest.raises(ConfigError, match="fetch_k >= k"):
        compare_settings(Settings(k=5), "fetch_k=2")
    with pytest.raises(ConfigError, match="KEY one of the settings"):
        compare_settings(Settings(), "no_such=1")
    with pytest.raises(ConfigError, match="not a valid float"):
        compare_settings(Settings(), "refuse_below=high")


def test_eval_answers_several_books_compared(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_QA_MODEL", "hash-64")
    monkeypatch.setenv("ATLAS_QA_REFUSE_BELOW", "0")
    questions = tmp_path / "q.jsonl"
    line = {"id": "d1", "question": "What are de jure rules?", "expected": "the formal rules as they are written"}
    questions.write_text(json.dumps(line) + "\n", encoding="utf-8")
    spec = f"{questions}:{DATA / 'polisci'}"
    argv = ["eval-answers", "--set", f"one={spec}", "--set", f"two={spec}", "--json"]
    assert main([*argv, "--compare", "refuse_below=100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["books"]) == {"one", "two"} and out["books"]["one"]["n"] == 1
    assert out["mean"]["answer"]["refused"] == 0.0
    assert out["compare"]["setting"] == "refuse_below=100"
    assert out["compare"]["mean"]["answer"]["refused"] == {"diff": 1.0, "low": 1.0, "high": 1.0}
    assert main(argv[:-1]) == 0
    assert "mean  answer" in capsys.readouterr().out
    assert main(["eval-answers", "--set", f"one={spec}", str(questions)]) == 2
    assert "Give one question set" in capsys.readouterr().err


def test_a_books_index_keeps_its_exported_model_in_its_own_folder(tmp_path: Path):
    from atlas_qa.evaluate.run import book_index

    parent = Settings(index_dir=tmp_path / "idx")
    book = book_index(parent, tmp_path / "idx" / "soc")
    assert book.index_dir == tmp_path / "idx" / "soc" and book.cache_dir == tmp_path / "idx" / "soc" / "models"
    shared = book_index(Settings(index_dir=tmp_path / "idx", cache_dir=tmp_path / "cache"), tmp_path / "idx" / "soc")
    assert shared.cache_dir == tmp_path / "cache"


@pytest.mark.parametrize("name", ["student", "review", "glossary"])
def test_the_shipped_manifests_name_the_shared_corpora(name: str):
    sets = load_manifest(Path(__file__).resolve().parents[2] / "benchmarks" / "sets" / f"{name}.yaml")
    assert len(sets) == {"student": 3, "review": 3, "glossary": 6}[name]
    corpora = Path(__file__).resolve().parents[3] / "shared" / "corpora"
    for s in sets:
        assert s.questions.resolve().parent.parent == corpora.resolve() and s.pages.name == "pages"
        assert s.questions.resolve().parent.name == f"openstax-{s.book}"
