"""Set the answer composer's constants on some books and report them on the others (leave books out).

    python training/ranker/tune.py --fold 0        # ~10 min per fold on one core; folds run side by side

The constants of `answer/extract.py` (the hand-set score's weights, how neighbours share scores, how many sentences
earn a place) were set by hand on polisci. Here they are chosen by coordinate search on the answers themselves,
composed as `ask` composes them and scored as `eval-answers` scores them, over the fold's training books; then the
answers of the held-out books are scored with the chosen constants beside today's. The objective per book: the mean
`hit` over its sets, plus half the student set's `evidence`, minus 0.01 per word the median answer runs over 60 % of
the best passage's median words.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from contextlib import contextmanager

from common import DATA, CachedEmbed, answer_metrics, load_book
from finetune import FOLDS, training_books

from atlas_qa.answer import extract
from atlas_qa.evaluate import answers as ea

GRID = {  # constant -> values tried (today's is always among them)
    "LEXICAL_WEIGHT": (0.2, 0.3, 0.4, 0.5, 0.6),
    "RANK_PRIOR": (0.0, 0.05, 0.1, 0.2, 0.3),
    "CONTEXT": (0.7, 0.8, 0.9, 0.95),
    "LEAD_IN": (0.5, 0.6, 0.7, 0.8),
    "CUE_BONUS": (0.0, 0.1, 0.15, 0.2),
    "ECHO_PENALTY": (0.2, 0.3, 0.4, 0.5),
    "EARN": (0.5, 0.6, 0.7, 0.8),
    "MAX_SENTENCES": (2, 3, 4),
}
WORD_SHARE = 0.6
PER_SET = 250  # questions per set of a training book the search reads (seeded sample; held-out books: all)


def sample(data: dict, n: int = PER_SET) -> dict:
    """`data` with at most `n` questions of each set, a seeded random sample."""
    rng = random.Random(107)
    by_set: dict[str, list] = {}
    for row in data["questions"]:
        by_set.setdefault(row["set"], []).append(row)
    rows = [r for group in by_set.values() for r in rng.sample(group, min(n, len(group)))]
    return {**data, "questions": rows}


def memoise() -> None:
    """Keep what the constants do not change: each question's candidates and signals, each distinct answer's
    assembly and score (a trial changes few answers, so most are looked up)."""
    scored, assembled, graded = {}, {}, {}
    candidates, assemble, grade = extract.scored_candidates, extract._assemble, ea._score

    def scored_candidates(question, want, cands, idf, embed):  # type: ignore[no-untyped-def]
        key = (question, tuple((c.page_id, c.start) for c in cands))
        if key not in scored:
            scored[key] = candidates(question, want, cands, idf, embed)
        return scored[key]

    def _assemble(question, passages, docs, chosen, closest):  # type: ignore[no-untyped-def]
        key = (question, tuple((c.page_id, c.start, c.end) for c in chosen))
        if key not in assembled:
            assembled[key] = assemble(question, passages, docs, chosen, closest)
        return assembled[key]

    def _score(q, shown):  # type: ignore[no-untyped-def]
        key = (q.id, q.question, shown.text, shown.refused)
        if key not in graded:
            graded[key] = grade(q, shown)
        return graded[key]

    extract.scored_candidates, extract._assemble, ea._score = scored_candidates, _assemble, _score


@contextmanager
def constants(values: dict[str, float]):  # type: ignore[no-untyped-def]
    old = {k: getattr(extract, k) for k in values}
    for k, v in values.items():
        setattr(extract, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(extract, k, v)


def book_metrics(data: dict, embed: CachedEmbed, values: dict[str, float]) -> dict:
    with constants(values):
        m = answer_metrics(data, embed)
    return {s: {"answer": r["answer"], "top_passage": r["top_passage"]} for s, r in m.items()}


def objective(metrics: dict) -> float:
    hits = [r["answer"]["hit"] for r in metrics.values()]
    value = sum(hits) / len(hits)
    student = metrics.get("student")
    if student:
        value += 0.5 * student["answer"]["evidence_hit"]
    for r in metrics.values():
        over = r["answer"]["words_median"] - WORD_SHARE * r["top_passage"]["words_median"]
        value -= 0.01 * max(0.0, over)
    return value


def search(books: dict[str, dict], embed: CachedEmbed) -> dict[str, float]:
    """Coordinate search from today's constants, two passes, keeping a change that raises the books' mean objective."""
    current = {k: getattr(extract, k) for k in GRID}

    def score(values: dict[str, float]) -> float:
        return sum(objective(book_metrics(d, embed, values)) for d in books.values()) / len(books)

    best = score(current)
    print(f"start {best:.4f} {current}", file=sys.stderr, flush=True)
    for _ in range(2):
        changed = False
        for name, grid in GRID.items():
            for v in grid:
                if v == current[name]:
                    continue
                trial = {**current, name: v}
                s = score(trial)
                print(f"    {name}={v}: {s:.4f}", file=sys.stderr, flush=True)
                if s > best + 0.002:
                    best, current, changed = s, trial, True
                    print(f"  {name}={v}: {best:.4f}", file=sys.stderr, flush=True)
        if not changed:
            break
    return current


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=0, choices=range(len(FOLDS)))
    args = ap.parse_args()
    embed = CachedEmbed(DATA / "vectors.pkl")
    memoise()
    chosen = search({b: sample(load_book(b)) for b in training_books(args.fold)}, embed)
    today = {k: getattr(extract, k) for k in GRID}
    out = {"fold": args.fold, "trained_on": training_books(args.fold), "chosen": chosen, "books": {}}
    for b in FOLDS[args.fold]:
        data = load_book(b)
        out["books"][b] = {"today": book_metrics(data, embed, today), "tuned": book_metrics(data, embed, chosen)}
    (DATA / f"tune-fold{args.fold}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({"chosen": chosen, "books": out["books"]}, indent=1))


if __name__ == "__main__":
    main()
