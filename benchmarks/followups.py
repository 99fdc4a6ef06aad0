"""Follow-up questions on the polisci corpus: does the rewritten follow-up find the page the question is about?

For each conversation of benchmarks/followups.jsonl the earlier questions are asked with `Atlas.ask` (history kept),
then the follow-up is searched three ways: as typed (no history), as `Atlas.ask(..., history=...)` rewrites it, and as
the hand-written standalone question (the ceiling). Prints the gold page's rank@1/@5 for each, and how often the
rewrite fired where it should (and nowhere else).

    .venv/bin/python benchmarks/followups.py --index-dir DIR     # an index of ../shared/corpora/openstax-polisci/pages
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from atlas_qa.config import Settings
from atlas_qa.conversation import Turn
from atlas_qa.core import Atlas

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="an index of the polisci pages")
    parser.add_argument("--questions", type=Path, default=HERE / "followups.jsonl")
    parser.add_argument("--verbose", action="store_true", help="print each rewrite")
    args = parser.parse_args()
    atlas = Atlas(Settings.from_env(index_dir=args.index_dir))
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    hits = {"alone": [0, 0], "rewritten": [0, 0], "standalone": [0, 0]}
    fired_right = 0
    for row in rows:
        history = [Turn(q, atlas.ask(q, history=[])) for q in row["history"]]
        searched = atlas.ask(row["question"], history=history).searched
        fired_right += (searched != row["question"]) == row["rewrite"]
        for name, text in (("alone", row["question"]), ("rewritten", searched), ("standalone", row["standalone"])):
            pages = [p for p, _ in atlas.search(text, k=5).pages[:5]]
            hits[name][0] += pages[:1] == [row["gold_page"]]
            hits[name][1] += row["gold_page"] in pages
        if args.verbose:
            print(f"{row['id']}: {row['question']!r} -> {searched!r}")
    n = len(rows)
    need = sum(r["rewrite"] for r in rows)
    print(f"{n} follow-ups ({need} need a rewrite, {n - need} stand alone)")
    print(f"rewrite fired where it should and nowhere else: {fired_right}/{n}")
    print(f"{'searched as':<24}{'page@1':>8}{'page@5':>8}")
    for name, (at1, at5) in hits.items():
        print(f"{name:<24}{at1 / n:>8.3f}{at5 / n:>8.3f}")


if __name__ == "__main__":
    main()
