"""Collect what the sentence ranker learns from: for every labelled question of a book, the passages `ask` retrieves
and the book's pages, pickled per book (`<out>/<book>.pkl`), so training and the offline answer simulation never
re-run retrieval.

    python training/ranker/collect.py --corpora ../shared/corpora --index-root IDX --out training/ranker/data

Each book needs an index of its pages at IDX/<book> (`atlas-qa ingest <corpora>/openstax-<book>/pages --index-dir
IDX/<book>`); the script syncs it first, which is a no-op when it is current.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

BOOKS = ("polisci", "sociology", "psychology", "ushistory", "philosophy", "anthropology")
SETS = {  # question file -> the sets it holds (kind -> set name); rows without an expected answer are left out
    "student_questions.jsonl": "student",
    "review_questions.jsonl": "review",
    "questions.jsonl": "definition",
}


def questions(book_dir: Path) -> list[dict]:
    out = []
    for name, set_name in SETS.items():
        path = book_dir / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if set_name == "definition" and row.get("kind") != "definition":
                continue
            if not row.get("expected") and not row.get("evidence"):
                continue
            out.append({**row, "set": set_name})
    return out


def collect(book: str, corpora: Path, index_root: Path) -> dict:
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas

    settings = Settings.from_env(index_dir=index_root / book)
    atlas = Atlas(settings)
    pages = corpora / f"openstax-{book}" / "pages"
    atlas.ingest([pages])
    view = atlas.index.snapshot()
    rows = questions(corpora / f"openstax-{book}")
    t0 = time.time()
    for i, row in enumerate(rows):
        row["retrieval"] = atlas.retriever.search(row["question"], settings.k, view=view)
        if i % 200 == 0:
            print(f"{book}: {i}/{len(rows)} ({time.time() - t0:.0f} s)", file=sys.stderr)
    docs = {
        page_id: view.document(page_id) for page_id in {p.chunk.page_id for r in rows for p in r["retrieval"].passages}
    }
    return {"book": book, "questions": rows, "docs": docs, "idf": {t: view.lexical.idf(t) for t in _terms(rows)}}


def _terms(rows: list[dict]) -> set[str]:
    from atlas_qa.lexical import tokenize

    return {t for r in rows for t in tokenize(r["question"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=Path("../shared/corpora"))
    ap.add_argument("--index-root", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("training/ranker/data"))
    ap.add_argument("--books", nargs="*", default=list(BOOKS))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for book in args.books:
        data = collect(book, args.corpora, args.index_root)
        with open(args.out / f"{book}.pkl", "wb") as f:
            pickle.dump(data, f)
        print(f"{book}: {len(data['questions'])} questions", file=sys.stderr)


if __name__ == "__main__":
    main()
