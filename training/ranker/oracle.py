"""What a perfect sentence ranker would give: the answering sentence put first, everything else as `ask` composes.

    python training/ranker/oracle.py polisci sociology psychology ushistory

The scorer adds 10 to the hand-set score of every sentence `common.labels_for` marks as answering (the evidence
sentence of a student question; for review and glossary questions the shown sentence covering most of the expected
answer, so those rows flatter the oracle). It bounds what any ranker can gain with today's composition.
"""

from __future__ import annotations

import sys

from common import DATA, CachedEmbed, answer_metrics, labels_for, load_book

from atlas_qa.answer import extract


def oracle(rows: dict[str, dict]) -> extract.Scorer:
    """The hand-set score, with the answering sentences of each question (`rows`: question -> its row) put first."""
    return lambda c: extract.hand_scores(c) + 10.0 * (labels_for(rows[c.question], c.sentences) == 1)


def main() -> None:
    embed = CachedEmbed(DATA / "vectors.pkl")
    for book in sys.argv[1:]:
        data = load_book(book)
        perfect = oracle({row["question"]: row for row in data["questions"]})
        for name, scorer in (("hand", None), ("oracle", perfect)):
            for s, r in sorted(answer_metrics(data, embed, scorer).items()):
                a, p = r["answer"], r["top_passage"]
                ev = f" / {a['evidence_hit']:.3f}" if a.get("evidence_hit") is not None else ""
                print(
                    f"{book} {s} {name}: {a['hit']:.3f}{ev} / {a['words_median']:.0f} w "
                    f"(best passage {p['hit']:.3f} / {p['words_median']:.0f} w)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
