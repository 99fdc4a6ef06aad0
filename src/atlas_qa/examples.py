"""Example questions a student could ask of the course's pages (the Ask tab's buttons)."""

from __future__ import annotations

from collections.abc import Sequence

from .types import Document

GENERIC_TITLES = {"introduction", "summary", "conclusion", "overview", "key terms", "review questions", "references"}


def example_questions(docs: Sequence[Document], curated: dict[str, list[str]] | None = None, n: int = 4) -> list[str]:
    """Up to `n` questions a student could ask of these pages: curated ones first, then one per page from the first
    term the page defines ("What is public policy?"), else from a title that names only that page and is not a
    generic heading ("Introduction" titles 16 pages of a book: never "What does the course say about Introduction?")."""
    curated = curated or {}
    found = [q for d in docs for q in curated.get(d.page_id, [])]
    titles = [d.title.strip().lower() for d in docs]
    used: set[str] = set()
    for d in docs:
        if d.page_id in curated:
            continue
        term = next((t for t in d.key_terms if t.lower() not in used and len(t) > 2), "")
        if term:
            used.add(term.lower())
            found.append(f"What is {term}?" if len(term.split()) < 4 else f"What does the course say about {term}?")
        elif d.title and titles.count(d.title.strip().lower()) == 1 and d.title.strip().lower() not in GENERIC_TITLES:
            found.append(f"What does the course say about {d.title.strip()}?")
    return list(dict.fromkeys(found))[:n]
