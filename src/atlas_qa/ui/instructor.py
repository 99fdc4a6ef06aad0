"""The Corpus and Feedback views (instructors), the header's numbers and the example questions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AtlasError
from ..examples import example_questions
from ..planted import planted_in
from ..ratings import FeedbackStore, citation_label
from .render import esc, tiles, when

EXAMPLES = {
    "atlas107/digital-technology-and-service-delivery.txt": [
        "Who argued that IT-enabled government could consolidate functions previously located separately in each "
        "department?",
        "How has digital technology changed public service delivery?",
        "What did Pal say about rule-bound bureaucracies?",
    ],
    "m00002": ["What are de jure and de facto rules?"],
}


class InstructorViews:
    """Mixed into `Views`, which provides `atlas`, `feedback`, `relative` and `export_dir`."""

    atlas: Any
    feedback: FeedbackStore
    relative: Callable[[str], str]
    export_dir: Callable[[], Path]

    # -- corpus ----------------------------------------------------------------------------------------------------

    def corpus_summary(self) -> str:
        try:
            pages = self.atlas.pages()
            last = self.atlas.last_ingest() or {}
        except (AtlasError, AttributeError):
            pages, last = [], {}
        skipped = last.get("skipped", [])
        last_when = when(last["finished_at"]) if last.get("finished_at") else "never"
        summary = tiles(
            [("Pages", len(pages)), ("Passages", sum(p["chunks"] for p in pages)), ("Last indexed", last_when)],
            bad=[("Failed to load", len(skipped))],
        )
        counts = ", ".join(f"{last[k]} {k}" for k in ("added", "updated", "removed", "unchanged") if k in last)
        last_run = f'<div class="aq-sub">Last ingest: {esc(counts)}.</div>' if counts else ""
        if skipped:
            items = "".join(
                f"<li><code>{esc(self.relative(s.get('path', '')))}</code><span>{esc(s.get('reason', ''))}</span></li>"
                for s in skipped
            )
            failed = f'<div class="aq-skipped"><h4>Pages that failed to load</h4><ul>{items}</ul></div>'
        else:
            failed = '<div class="aq-ok">Every file of the last ingest loaded.</div>'
        return f"{summary}{last_run}{failed}{self.planted_list(pages)}"

    def planted_list(self, pages: list[dict[str, Any]]) -> str:
        """The instructions found planted in pages (kept out of the index), with page and line: "" when none."""
        try:
            found = [p for page in pages for p in planted_in(self.atlas.document(page["page_id"]))]
        except (AtlasError, AttributeError, KeyError):
            return ""
        if not found:
            return ""
        items = "".join(
            f"<li><code>{esc(p.page_id)}</code> line {p.line}<span>{esc(p.text)}</span></li>" for p in found
        )
        return (
            '<div class="aq-skipped aq-planted"><h4>Instructions planted in pages</h4><p class="aq-sub">Text addressed '
            "to a language model, not to students: kept out of the index, so it is never searched, quoted or sent "
            f"to a model. Remove it from the page.</p><ul>{items}</ul></div>"
        )

    def corpus_rows(self) -> list[list[Any]]:
        try:
            pages = self.atlas.pages()
        except (AtlasError, AttributeError):
            return []
        return [
            [
                p["title"],
                self.chapter(p["page_id"]),
                p["page_id"],
                p["chunks"],
                when(p["indexed_at"]),
                self.relative(p["source"]),
            ]
            for p in pages
        ]

    def chapter(self, page_id: str) -> str:
        """The page's chapter (from its metadata), or ""."""
        try:
            return str(self.atlas.document(page_id).metadata.get("chapter", ""))
        except (AtlasError, AttributeError, KeyError):
            return ""

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Re-read the corpus and sync the index (only changed pages are embedded again)."""
        try:
            report = self.atlas.ingest(progress=progress or False)
        except AtlasError as exc:
            return f'<div class="aq-error">{esc(exc)}</div>'
        skipped = f", {len(report.skipped)} failed to load" if report.skipped else ""
        return (
            f'<div class="aq-ok">Re-indexed: {report.added} added, {report.updated} updated, {report.removed} '
            f"removed, {report.unchanged} unchanged{skipped}; {report.chunks} passages "
            f"({report.embedded} embedded now).</div>"
        )

    def facets(self) -> dict[str, list[str]]:
        try:
            return dict(self.atlas.facets())
        except (AtlasError, AttributeError):
            return {}

    def stats(self) -> str:
        try:
            pages = self.atlas.pages()
        except (AtlasError, AttributeError):
            return ""
        n, chunks = len(pages), sum(p["chunks"] for p in pages)
        return f"{n} page{'s' if n != 1 else ''} · {chunks} passages indexed"

    def examples(self) -> list[str]:
        """Example questions for the pages in the index (see `examples.example_questions`)."""
        try:
            docs = [self.atlas.document(p["page_id"]) for p in self.atlas.pages()]
        except (AtlasError, AttributeError, KeyError):
            return []
        return example_questions(docs, EXAMPLES)

    # -- feedback --------------------------------------------------------------------------------------------------

    def feedback_rows(self) -> list[list[str]]:
        return [
            [
                when(f.created_at),
                "✓ helpful" if f.helpful else "✗ not helpful",
                f.question,
                ("(refused) " if f.refused else "") + f.answer,
                "; ".join(citation_label(c) for c in f.citations if f"[{c.get('n')}]" in f.answer),
                f.comment,
            ]
            for f in self.feedback.list()
        ]

    def feedback_summary(self) -> str:
        items = self.feedback.list()
        if not items:
            return '<div class="aq-sub">No feedback yet. Students rate answers with the thumbs under each one.</div>'
        helpful = sum(f.helpful for f in items)
        comments = sum(bool(f.comment) for f in items)
        return tiles(
            [
                ("Ratings", len(items)),
                ("Helpful", f"{round(100 * helpful / len(items))}%"),
                ("With a comment", comments),
            ]
        )

    def export_feedback(self, fmt: str) -> Path:
        path = self.export_dir() / f"feedback.{fmt}"
        return self.feedback.export_csv(path) if fmt == "csv" else self.feedback.export_json(path)
