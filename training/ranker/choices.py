"""How much a sentence naming one of the question's pasted choices gains (`extract.CHOICE_BONUS`), left out per book.

    python training/ranker/collect.py --index-root IDX     # once: each book's questions and retrievals
    python training/ranker/choices.py                      # ~1 min (a few more the first time: sentence vectors)

Only U.S. history's review questions carry their choices (after the question mark, space-separated). Sociology's and
psychology's multiple-choice review questions are given choices here, as a student would paste them, one per line
marked A., B., C., D.: the authors' answer and three answers of review questions nearby in the book (same chapter, so
on the same topic), shuffled with a fixed seed; their retrieval is the question's own (collected without the
choices). For each bonus the answers are composed as `ask` composes them and scored as `eval-answers` scores them
(`hit`); for each book the bonus is chosen on the other two and reported on it.
"""

from __future__ import annotations

import random

from common import DATA, CachedEmbed, answer_metrics, load_book

from atlas_qa.answer import extract
from atlas_qa.answer.kinds import split_choices

BONUSES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
SEED = 7
OWN_CHOICES = ("ushistory",)  # the books whose review questions carry their choices


def pasted(data: dict) -> dict:
    """The book's review questions with choices: those it has, or its multiple-choice ones given choices."""
    review = [r for r in data["questions"] if r["set"] == "review"]
    if data["book"] in OWN_CHOICES:
        return {**data, "questions": [r for r in review if split_choices(r["question"])[1]]}
    mc = [r for r in review if r.get("kind") == "review-mc" and r.get("expected")]
    rng = random.Random(SEED)
    out = []
    for i, row in enumerate(mc):
        near = [m["expected"] for m in mc[max(0, i - 4) : i + 5] if m["expected"] != row["expected"]]
        if len(near) < 3:
            continue
        offered = [*rng.sample(near, 3), row["expected"]]
        rng.shuffle(offered)
        marked = "".join(f"\n{mark}. {text}" for mark, text in zip("ABCD", offered))
        out.append({**row, "question": row["question"].rstrip() + marked})
    return {**data, "questions": out}


def main() -> None:
    embed = CachedEmbed(DATA / "vectors.pkl")
    books = ("ushistory", "sociology", "psychology")
    hits: dict[str, dict[float, float]] = {}
    for book in books:
        data = pasted(load_book(book))
        hits[book] = {}
        for bonus in BONUSES:
            extract.CHOICE_BONUS = bonus
            m = answer_metrics(data, embed, refuse_below=0.52)["review"]
            hits[book][bonus] = m["answer"]["hit"]
        n = len(data["questions"])
        print(
            f"{book:10s} ({n} questions, best passage {m['top_passage']['hit']:.3f}): "
            + "  ".join(f"{b}: {h:.3f}" for b, h in hits[book].items()),
            flush=True,
        )
    embed.save()
    for book in books:
        others = [b for b in books if b != book]
        chosen = max(BONUSES, key=lambda b: sum(hits[o][b] - hits[o][0.0] for o in others))
        print(
            f"left out {book}: chosen on {'+'.join(others)}: {chosen}; "
            f"{book} {hits[book][0.0]:.3f} -> {hits[book][chosen]:.3f}"
        )


if __name__ == "__main__":
    main()
