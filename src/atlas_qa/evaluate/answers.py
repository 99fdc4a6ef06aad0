"""Answer evaluation: does the shown answer contain what answers the question, beside the best passage shown whole?

A question set line may carry `expected` (the textbook's answer in a few words) and/or `evidence` (sentences copied
verbatim from the page that together answer it). Per question and per shown text:

- recall: the share of the expected answer's content words (stop words out, Snowball stems) that the text contains;
  `hit` when that share is at least `HIT_SHARE`;
- evidence_hit: at least one evidence sentence appears in the text, both in display form (Markdown emphasis and
  footnote markers dropped, [n] markers dropped, white space folded, case ignored).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import AtlasError
from ..lexical import tokenize
from ..spans import clean
from .datasets import read_jsonl, text_field
from .metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Difference, paired_bootstrap, percentile
from .report import aligned

HIT_SHARE = 0.6
SIDES = {"answer": "answer", "top_passage": "best passage"}
METRICS = ("hit", "recall", "evidence_hit", "refused", "words_median")  # each book's table columns, in order
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class AnswerQuestion:
    """A question with what a good answer contains: `expected` words and/or verbatim `evidence` sentences."""

    id: str
    question: str
    kind: str = ""
    expected: str = ""
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shown:
    """What a student reads for one question: the text, and whether it is a refusal."""

    text: str
    refused: bool = False


def load_answer_questions(path: Path) -> list[AnswerQuestion]:
    """The questions of a JSONL set that have an `expected` answer or `evidence` sentences (others are skipped).

    Raises:
        AtlasError: naming file:line for a malformed line, or when no question has either field.
    """
    out = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        evidence = obj.get("evidence") or []
        if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
            raise AtlasError(f"{where}: 'evidence' must be a list of sentences")
        expected = text_field(obj, "expected", where, required=False)
        if not expected and not evidence:
            continue
        out.append(
            AnswerQuestion(
                id=text_field(obj, "id", where),
                question=text_field(obj, "question", where),
                kind=text_field(obj, "kind", where, required=False),
                expected=expected,
                evidence=tuple(e.strip() for e in evidence if e.strip()),
            )
        )
    if not out:
        raise AtlasError(f"{path}: no question has an 'expected' answer or 'evidence' sentences")
    return out


def display_form(text: str) -> str:
    """Text as compared: emphasis, footnote and [n] markers dropped, white space folded, case ignored."""
    return clean(_MARKER.sub("", text)).casefold()


def expected_recall(expected: str, text: str) -> float:
    """Share of the expected answer's content stems that occur in `text` (1.0 when it has none)."""
    wanted = set(tokenize(expected))
    return len(wanted & set(tokenize(text))) / len(wanted) if wanted else 1.0


def evidence_found(evidence: Sequence[str], text: str) -> bool:
    """Whether at least one evidence sentence appears whole in `text`."""
    shown = display_form(text)
    return any(display_form(e) in shown for e in evidence)


def _score(q: AnswerQuestion, shown: Shown) -> dict[str, Any]:
    words = len(_MARKER.sub("", shown.text).split())  # what a student reads: [n] markers are not words
    row: dict[str, Any] = {"words": words if not shown.refused else 0, "refused": shown.refused}
    if q.expected:
        row["recall"] = 0.0 if shown.refused else expected_recall(q.expected, shown.text)
        row["hit"] = row["recall"] >= HIT_SHARE
    if q.evidence:
        row["evidence_hit"] = not shown.refused and evidence_found(q.evidence, shown.text)
    return row


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        values = [float(r[key]) for r in rows if key in r]
        return round(sum(values) / len(values), 4) if values else None

    words = [r["words"] for r in rows if not r["refused"]]
    return {
        "n": len(rows),
        "hit": mean("hit"),
        "recall": mean("recall"),
        "evidence_hit": mean("evidence_hit"),
        "refused": mean("refused"),
        "words_median": statistics.median(words) if words else 0,
    }


def evaluate_answers(
    questions: Sequence[AnswerQuestion],
    answer: Callable[[str], Shown],
    top_passage: Callable[[str], Shown],
    misses: int = 0,
) -> dict[str, Any]:
    """Score the shown answers and, in the same run, the baseline "show the best passage whole".

    Returns:
        {"n", "answer": {"hit", "recall", "evidence_hit", "refused", "words_median", "by_kind"},
         "top_passage": {"hit", "recall", "evidence_hit", "words_median"}, "ask_p50_ms", "misses",
         "rows": {"answer": [...], "top_passage": [...]}} (the per-question scores, for paired comparisons); a metric
        is None when no question carries what it needs.
    """
    ours: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    times: list[float] = []
    missed: list[dict[str, Any]] = []
    for q in questions:
        t0 = time.perf_counter()
        shown = answer(q.question)
        times.append((time.perf_counter() - t0) * 1000)
        row = _score(q, shown) | {"kind": q.kind}
        ours.append(row)
        base.append(_score(q, top_passage(q.question)))
        if len(missed) < misses and (not row.get("hit", True) or not row.get("evidence_hit", True)):
            missed.append({"id": q.id, "question": q.question, "expected": q.expected, "shown": shown.text})
    kinds = sorted({r["kind"] for r in ours if r["kind"]})
    by_kind = {k: _summary([r for r in ours if r["kind"] == k]) for k in kinds}
    top = _summary(base)
    del top["refused"], top["n"]
    return {
        "n": len(questions),
        "answer": _summary(ours) | {"by_kind": by_kind},
        "top_passage": top,
        "ask_p50_ms": round(percentile(times, 50), 1),
        "misses": missed,
        "rows": {"answer": ours, "top_passage": base},
    }


def result_json(result: dict[str, Any]) -> dict[str, Any]:
    """A result as printed by `--json`: without the misses and the per-question rows."""
    return {k: v for k, v in result.items() if k not in ("misses", "rows")}


def books_json(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"books": {book: result}, "mean": {"answer": {...}, "top_passage": {...}}}: each metric's mean over the books
    that have it (every book counts the same, whatever its number of questions; words: the mean of the medians)."""

    def mean(side: str, key: str) -> float | None:
        values = [r[side][key] for r in results.values() if r[side].get(key) is not None]
        return round(sum(values) / len(values), 4) if values else None

    first = next(iter(results.values()))

    return {
        "books": {book: result_json(r) for book, r in results.items()},
        "mean": {side: {key: mean(side, key) for key in METRICS if key in first[side]} for side in SIDES},
    }


def _cell(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) and abs(v) <= 1 else f"{v:g}"


def format_books_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per book and shown text (answer, best passage), then the mean over the books."""
    summary = books_json(results)
    header = ["book", "shown", "n", "hit", "recall", "evidence", "refused", "words"]
    rows = []
    for book, r in [*summary["books"].items(), ("mean", {"n": "", **summary["mean"]})]:
        for side, label in SIDES.items():
            m = r[side]
            rows.append(
                [
                    book if side == "answer" else "",
                    label,
                    str(r["n"]) if side == "answer" else "",
                    *(_cell(m.get(key)) for key in METRICS),
                ]
            )
    return "\n".join(aligned(header, rows, left=(0, 1)))


def _values(rows: Sequence[dict[str, Any]], key: str) -> list[float | None]:
    """One metric per question; words only for questions answered (a refusal shows nothing to count)."""
    if key == "words_median":
        return [None if r["refused"] else float(r["words"]) for r in rows]
    return [float(r[key]) if key in r else None for r in rows]


def compare_results(
    base: dict[str, dict[str, Any]],
    other: dict[str, dict[str, Any]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, dict[str, dict[str, Difference]]]:
    """Per book and for the mean over books: other - base per metric and shown text, with a 95 % paired-bootstrap
    interval (words: the difference of the medians). Both runs must cover the same books and questions.

    Returns:
        {book or "mean": {"answer" | "top_passage": {metric: Difference}}}.
    """
    if list(base) != list(other):
        raise AtlasError(f"the compared runs cover different books ({', '.join(base)} vs {', '.join(other)})")
    out: dict[str, dict[str, dict[str, Difference]]] = {}
    for book in [*base, "mean"]:
        books = list(base) if book == "mean" else [book]
        out[book] = {}
        for side in SIDES:
            out[book][side] = {}
            for key in METRICS:
                if side == "top_passage" and key == "refused":  # the best passage is never a refusal
                    out[book][side][key] = Difference(None, None, None)
                    continue
                stat: Literal["mean", "median"] = "median" if key == "words_median" else "mean"
                groups = [(_values(base[b]["rows"][side], key), _values(other[b]["rows"][side], key)) for b in books]
                out[book][side][key] = paired_bootstrap(groups, stat, resamples, seed)
    return out


def comparison_json(diffs: dict[str, dict[str, dict[str, Difference]]]) -> dict[str, Any]:
    """The comparison as JSON: {book: {side: {metric: {"diff", "low", "high"}}}}."""
    return {
        book: {side: {key: vars(d) for key, d in metrics.items()} for side, metrics in sides.items()}
        for book, sides in diffs.items()
    }


def format_comparison(diffs: dict[str, dict[str, dict[str, Difference]]], label: str) -> str:
    """Per book and shown text: each metric's difference and its 95 % interval, e.g. "+0.050 [+0.010, +0.090]"."""

    def cell(d: Difference) -> str:
        if d.diff is None:
            return "-"
        if d.low is None or d.high is None or math.isnan(d.low):
            return f"{d.diff:+.3g}"
        return (
            f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
            if max(abs(d.low), abs(d.high)) <= 1
            else (f"{d.diff:+g} [{d.low:+g}, {d.high:+g}]")
        )

    header = ["book", "shown", "hit", "recall", "evidence", "refused", "words"]
    rows = [
        [book if side == "answer" else "", SIDES[side], *(cell(metrics[key]) for key in METRICS)]
        for book, sides in diffs.items()
        for side, metrics in sides.items()
    ]
    title = f"{label} minus the base settings (95 % paired-bootstrap interval, {BOOTSTRAP_RESAMPLES} resamples):"
    return "\n".join([title, *aligned(header, rows, left=(0, 1))])


def format_answer_table(result: dict[str, Any]) -> str:
    """The answer metrics beside the best-passage baseline, overall and per kind."""

    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) and v <= 1 else f"{v:g}"

    a, t = result["answer"], result["top_passage"]
    lines = [
        f"n = {result['n']} questions; ask p50 {result['ask_p50_ms']} ms",
        f"{'':22} {'hit':>6} {'recall':>7} {'evidence':>9} {'refused':>8} {'words':>6}",
        f"{'answer':22} {cell(a['hit']):>6} {cell(a['recall']):>7} {cell(a['evidence_hit']):>9} "
        f"{cell(a['refused']):>8} {cell(a['words_median']):>6}",
        f"{'best passage':22} {cell(t['hit']):>6} {cell(t['recall']):>7} {cell(t['evidence_hit']):>9} "
        f"{'-':>8} {cell(t['words_median']):>6}",
    ]
    for kind, k in a["by_kind"].items():
        label = f"  {kind} ({k['n']})"
        lines.append(
            f"{label:22} {cell(k['hit']):>6} {cell(k['recall']):>7} "
            f"{cell(k['evidence_hit']):>9} {cell(k['refused']):>8} {cell(k['words_median']):>6}"
        )
    return "\n".join(lines)
