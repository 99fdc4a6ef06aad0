"""Answer evaluation: does the shown answer contain what answers the question, beside the best passage shown whole?

A question set line may carry `expected` (the textbook's answer in a few words) and/or `evidence` (sentences copied
verbatim from the page that together answer it). Per question and per shown text:

- recall: the share of the expected answer's content words (stop words out, Snowball stems) that the text contains;
  `hit` when that share is at least `HIT_SHARE`;
- evidence_hit: at least one evidence sentence appears in the text, both in display form (Markdown emphasis and
  footnote markers dropped, [n] markers dropped, white space folded, case ignored).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AtlasError
from ..lexical import tokenize
from .datasets import read_jsonl, text_field
from .metrics import percentile

HIT_SHARE = 0.6
_MARKER = re.compile(r"\s*\[\d+\]")
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]")


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
    text = _MARKER.sub("", _FOOTNOTE.sub("", text)).replace("**", "")
    return " ".join(text.split()).casefold()


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
         "top_passage": {"hit", "recall", "evidence_hit", "words_median"}, "ask_p50_ms", "misses"}; a metric is
        None when no question carries what it needs.
    """
    ours, base, times, missed = [], [], [], []
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
    }


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
