"""Matching a question to a reviewed one: the curve, the chosen threshold, a cross-validated estimate, the latency.

The reviewed questions are the 60 polisci student questions that `paraphrases.jsonl` rewrites, as one course. Each
of the 180 rows is asked against them: a paraphrase counts as matched when its own original is the best match and
reaches the threshold; a near-miss counts as matched when any reviewed question does. Distractors are the other
books' questions (objectives, glossary, review and student questions) and the 90 other polisci student questions,
asked against the same 60: any match of theirs is a false match. Every text is first put in the words of the polisci
pages (`course_words`), as `ask` compares a question with the reviewed ones.

For the cosine-only baseline (weight 0) and the matcher (`atlas_qa.reviews.match`), the weight and threshold are
chosen the same way: the highest paraphrase recall with at most `--max-near-miss` of the near-misses matched. The
cross-validated numbers choose them on 4/5 of the originals (with their rows) and report the other 1/5.

    .venv/bin/python -m benchmarks.paraphrase [--corpora ../shared/corpora] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atlas_qa.reviews.match import THRESHOLD, WEIGHT, ReviewedQuestions, match

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"
BOOK = "polisci"
DISTRACTOR_SETS = ("questions", "review_questions", "student_questions")
WEIGHTS = tuple(
    sorted({0.0, 0.05, 0.10, 0.15, 0.20, 0.30, WEIGHT})
)  # the grid the matcher's weight is chosen from (0: cosine alone)
CURVE = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
MAX_NEAR_MISS = 0.02
FOLDS = 5


@dataclass(frozen=True)
class Data:
    """The pairs, their originals (the reviewed questions) and the distractors, with every text's vector."""

    originals: list[str]
    rows: list[dict[str, Any]]
    distractors: dict[str, list[str]]  # set name -> questions
    vectors: dict[str, np.ndarray]  # of each text in the course's words
    spelled: dict[str, str]  # each text in the course's words, as `ask` compares questions


@dataclass(frozen=True)
class Point:
    weight: float
    threshold: float
    recall: float
    near_miss: float
    distractor: float = float("nan")


def load(corpora: Path, book: str = BOOK) -> tuple[list[str], list[dict[str, Any]], dict[str, list[str]]]:
    """The originals, the pair rows and the distractor sets of `book`'s paraphrase file."""
    folder = corpora / f"openstax-{book}"
    rows = [json.loads(line) for line in (folder / "paraphrases.jsonl").read_text().splitlines() if line.strip()]
    originals = sorted({r["original"] for r in rows})
    distractors: dict[str, list[str]] = {}
    for other in sorted(corpora.glob("openstax-*")):
        for name in DISTRACTOR_SETS:
            path = other / f"{name}.jsonl"
            if not path.is_file() or (other == folder and name != "student_questions"):
                continue  # the book's own objectives and glossary ask what its student questions ask
            questions = [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
            label = f"{other.name.removeprefix('openstax-')}/{name}"
            distractors[label] = [q for q in questions if q not in originals]
    return originals, rows, distractors


def course_words(corpora: Path, book: str = BOOK, known: Callable[[str], bool] | None = None) -> Callable[[str], str]:
    """A question in the words of `book`'s pages (`Atlas.in_course_words` over an index of them); `known`: the
    embedder's `knows` (a word the model reads whole stays as typed)."""
    from atlas_qa.answer import respell
    from atlas_qa.lexical import LexicalIndex

    pages = sorted((corpora / f"openstax-{book}" / "pages").glob("*.md"))
    lexical = LexicalIndex([p.read_text(encoding="utf-8") for p in pages])
    return lambda question: respell(question, lexical.idf, lexical.words, known)


def embed(corpora: Path, originals: list[str], rows: list[dict[str, Any]], distractors: dict[str, list[str]]) -> Data:
    """Every text put in the course's words (`course_words`) and encoded by the project's embedder as the settings
    name it (`ATLAS_QA_*`), one text per call as `ask` encodes a question: the int8 model's vectors move a little
    (cosine ~0.995) with the batch they share."""
    from atlas_qa.config import Settings
    from atlas_qa.embedding import embedder_for

    embedder = embedder_for(Settings.from_env())
    spell = course_words(corpora, known=embedder.knows)
    texts = sorted({*originals, *(r["question"] for r in rows), *(q for qs in distractors.values() for q in qs)})
    spelled = {t: spell(t) for t in texts}
    return Data(originals, rows, distractors, {t: embedder.embed(spelled[t]) for t in texts}, spelled)


def best_scores(data: Data, questions: Sequence[str], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(best score, index of the best reviewed question) of each question against the originals."""
    reviewed = ReviewedQuestions(
        BOOK,
        data.originals,
        [data.spelled[o] for o in data.originals],
        np.stack([data.vectors[o] for o in data.originals]),
    )
    scores, best = np.zeros(len(questions)), np.zeros(len(questions), dtype=int)
    for i, q in enumerate(questions):
        s, _ = reviewed.scores(data.spelled[q], data.vectors[q], weight)
        best[i] = int(np.argmax(s))
        scores[i] = s[best[i]]
    return scores, best


class Scored:
    """The pairs' and distractors' best scores under one weight."""

    def __init__(self, data: Data, weight: float) -> None:
        self.weight = weight
        rows = data.rows
        scores, best = best_scores(data, [r["question"] for r in rows], weight)
        own = np.array([data.originals.index(r["original"]) for r in rows])
        self.same = np.array([r["same"] for r in rows])
        # a paraphrase matched to another original is a wrong answer: it never counts as matched
        self.pair = np.where(self.same & (best != own), -np.inf, scores)
        self.group = np.array([data.originals.index(r["original"]) for r in rows])
        self.distractors = {name: best_scores(data, qs, weight)[0] for name, qs in data.distractors.items()}

    def rates(self, threshold: float, rows: np.ndarray | None = None) -> tuple[float, float]:
        """(paraphrase recall, near-miss match rate) at `threshold`, over `rows` (default: all)."""
        keep = np.ones(len(self.pair), bool) if rows is None else rows
        hit = self.pair >= threshold
        return float(hit[keep & self.same].mean()), float(hit[keep & ~self.same].mean())

    def distractor_rate(self, threshold: float) -> float:
        every = np.concatenate(list(self.distractors.values()))
        return float((every >= threshold).mean())

    def choose(self, rows: np.ndarray | None = None, max_near_miss: float = MAX_NEAR_MISS) -> Point:
        """The lowest threshold (so the highest recall) at which at most `max_near_miss` of near-misses match."""
        keep = np.ones(len(self.pair), bool) if rows is None else rows
        candidates = np.unique(np.round(self.pair[keep & np.isfinite(self.pair)], 4))
        for t in candidates:
            recall, near = self.rates(t, keep)
            if near <= max_near_miss:
                return Point(self.weight, float(t), recall, near)
        return Point(self.weight, float("inf"), 0.0, 0.0)


def choose(scored: Sequence[Scored], rows: np.ndarray | None = None, max_near_miss: float = MAX_NEAR_MISS) -> Point:
    """The weight and threshold with the highest recall at the near-miss limit (ties: the smaller weight)."""
    points = [s.choose(rows, max_near_miss) for s in scored]
    return max(points, key=lambda p: (p.recall, -p.weight))


def cross_validate(
    scored: Sequence[Scored], folds: int = FOLDS, max_near_miss: float = MAX_NEAR_MISS
) -> tuple[Point, list[Point]]:
    """Weight and threshold chosen on the other folds' originals, rates pooled over the held-out folds; and each
    fold's choice (its rates on the folds it was chosen on)."""
    first = scored[0]
    fold = first.group % folds
    hits = {True: [0, 0], False: [0, 0]}
    choices = []
    for k in range(folds):
        point = choose(scored, fold != k, max_near_miss)
        choices.append(point)
        chosen = next(s for s in scored if s.weight == point.weight)
        test = fold == k
        for same in (True, False):
            rows = test & (first.same == same)
            hits[same][0] += int((chosen.pair[rows] >= point.threshold).sum())
            hits[same][1] += int(rows.sum())
    pooled = Point(float("nan"), float("nan"), hits[True][0] / hits[True][1], hits[False][0] / hits[False][1])
    return pooled, choices


def latency(data: Data, sizes: Sequence[int] = (0, 1000, 5000), repeats: int = 10) -> dict[int, tuple[float, float]]:
    """Warm p50 and p95 milliseconds of one `match` call with `size` reviewed questions (the queries: the pairs)."""
    pool = [q for qs in data.distractors.values() for q in qs]
    queries = [r["question"] for r in data.rows]
    out: dict[int, tuple[float, float]] = {}
    for size in sizes:
        texts = (data.originals + pool * (1 + size // max(len(pool), 1)))[:size]
        reviewed = ReviewedQuestions("course", [str(i) for i in range(size)], texts, _stack(data, texts))
        for q in queries:  # warm-up
            match(q, data.vectors[q], "course", reviewed)
        times = []
        for _ in range(repeats):
            for q in queries:
                start = time.perf_counter()
                match(q, data.vectors[q], "course", reviewed)
                times.append((time.perf_counter() - start) * 1000)
        out[size] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)))
    return out


def _stack(data: Data, texts: Sequence[str]) -> np.ndarray:
    dim = len(next(iter(data.vectors.values())))
    return np.stack([data.vectors[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)


def report(data: Data, max_near_miss: float = MAX_NEAR_MISS, folds: int = FOLDS) -> dict[str, Any]:
    """Every number the benchmark prints, as data."""
    scored = [Scored(data, w) for w in WEIGHTS]
    baseline, matcher_grid = scored[0], scored
    chosen = {"cosine": choose([baseline], None, max_near_miss), "matcher": choose(matcher_grid, None, max_near_miss)}
    chosen = {
        name: Point(
            p.weight, p.threshold, p.recall, p.near_miss, _by_weight(scored, p.weight).distractor_rate(p.threshold)
        )
        for name, p in chosen.items()
    }
    cv = {
        "cosine": cross_validate([baseline], folds, max_near_miss),
        "matcher": cross_validate(matcher_grid, folds, max_near_miss),
    }
    m = _by_weight(scored, WEIGHT)
    shipped = Point(WEIGHT, THRESHOLD, *m.rates(THRESHOLD), m.distractor_rate(THRESHOLD))
    at_95 = {}
    for name, p in chosen.items():
        s = _by_weight(scored, p.weight)
        t = float(np.quantile(s.pair[s.same], 0.05, method="lower"))
        at_95[name] = Point(p.weight, t, *s.rates(t), s.distractor_rate(t))
    curve = []
    for t in CURVE:
        row: dict[str, Any] = {"threshold": t}
        for name, p in chosen.items():
            s = _by_weight(scored, p.weight)
            recall, near = s.rates(t)
            row[name] = {"recall": recall, "near_miss": near, "distractor": s.distractor_rate(t)}
        curve.append(row)
    t = THRESHOLD
    by_set = {name: float((v >= t).mean()) for name, v in m.distractors.items()}
    false = sorted(
        ((float(sc), q) for name, qs in data.distractors.items() for q, sc in zip(qs, m.distractors[name]) if sc >= t),
        reverse=True,
    )
    return {
        "pairs": {
            "paraphrases": int(m.same.sum()),
            "near_misses": int((~m.same).sum()),
            "originals": len(data.originals),
        },
        "distractors": sum(len(v) for v in data.distractors.values()),
        "max_near_miss": max_near_miss,
        "chosen": {k: asdict(v) for k, v in chosen.items()},
        "shipped": asdict(shipped),
        "cross_validated": {k: {"recall": v[0].recall, "near_miss": v[0].near_miss} for k, v in cv.items()},
        "fold_choices": {k: [(p.weight, p.threshold) for p in v[1]] for k, v in cv.items()},
        "at_recall_95": {k: asdict(v) for k, v in at_95.items()},
        "curve": curve,
        "distractor_rate_by_set": by_set,
        "distractor_matches": [{"score": s, "question": q} for s, q in false],
        "latency_ms": {str(k): {"p50": v[0], "p95": v[1]} for k, v in latency(data).items()},
    }


def _by_weight(scored: Sequence[Scored], weight: float) -> Scored:
    return next(s for s in scored if s.weight == weight)


def _print(r: dict[str, Any]) -> None:
    pairs = r["pairs"]
    print(
        f"{pairs['paraphrases']} paraphrases, {pairs['near_misses']} near-misses of {pairs['originals']} reviewed "
        f"questions; {r['distractors']} distractor questions"
    )
    print("\nthreshold  cosine: recall  near-miss  distractor   matcher: recall  near-miss  distractor")
    for row in r["curve"]:
        c, m = row["cosine"], row["matcher"]
        print(
            f"{row['threshold']:9.2f}  {c['recall']:14.3f}  {c['near_miss']:9.3f}  {c['distractor']:10.4f}"
            f"  {m['recall']:16.3f}  {m['near_miss']:9.3f}  {m['distractor']:10.4f}"
        )
    print(
        f"\nchosen (highest recall with near-misses matched <= {r['max_near_miss']:.0%}), in-sample / cross-validated:"
    )
    for name in ("cosine", "matcher"):
        p, cv = r["chosen"][name], r["cross_validated"][name]
        print(
            f"  {name:8s} weight {p['weight']:.2f} threshold {p['threshold']:.3f}: recall {p['recall']:.3f}, "
            f"near-miss {p['near_miss']:.3f}, distractor {p['distractor']:.4f} | CV recall {cv['recall']:.3f}, "
            f"near-miss {cv['near_miss']:.3f}"
        )
    for name, points in r["fold_choices"].items():
        print(f"  {name} per fold (weight, threshold): " + ", ".join(f"({w:.2f}, {t:.3f})" for w, t in points))
    p = r["shipped"]
    print(
        f"  shipped  weight {p['weight']:.2f} threshold {p['threshold']:.3f}: recall {p['recall']:.3f}, "
        f"near-miss {p['near_miss']:.3f}, distractor {p['distractor']:.4f}"
    )
    print("at 95 % paraphrase recall (in-sample):")
    for name, p in r["at_recall_95"].items():
        print(
            f"  {name:8s} threshold {p['threshold']:.3f}: recall {p['recall']:.3f}, near-miss {p['near_miss']:.3f}, "
            f"distractor {p['distractor']:.4f}"
        )
    print("distractor match rate at the shipped constants, by set:")
    for name, rate in r["distractor_rate_by_set"].items():
        print(f"  {name:32s} {rate:.4f}")
    for d in r["distractor_matches"][:10]:
        print(f"  matched distractor ({d['score']:.3f}): {d['question']}")
    print("match() warm latency (ms), by number of reviewed questions:")
    for size, v in r["latency_ms"].items():
        print(f"  {size:>6s}: p50 {v['p50']:.3f}  p95 {v['p95']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=CORPORA, help="the folder of the openstax-* corpora")
    parser.add_argument("--max-near-miss", type=float, default=MAX_NEAR_MISS)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    data = embed(args.corpora, *load(args.corpora))
    result = report(data, args.max_near_miss)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)


if __name__ == "__main__":
    main()
