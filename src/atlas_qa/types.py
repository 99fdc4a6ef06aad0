"""Plain data that flows between the pipeline stages: files -> Documents -> Chunks -> Passages -> Answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import error_body

ELSEWHERE = "@"  # the key prefix of a reference another page of the chapter lists (`Reference`)


@dataclass(frozen=True)
class Reference:
    """One entry of a page's reference list or one footnote.

    `key` is how in-text citations find it: "borins 2007" for a reference list entry, "^3" for footnote 3, and
    `ELSEWHERE` + "m82161:ref3" for an entry of another page's list that the page's citations may resolve to (a book
    may keep a chapter's references on one of its pages).
    """

    key: str
    text: str
    authors: tuple[str, ...] = ()
    year: str = ""


@dataclass(frozen=True)
class Quotation:
    """A quoted passage of a page: who is quoted, where in their work, and the span in the page text."""

    speaker: str
    pages: str
    start: int
    end: int


@dataclass(frozen=True)
class Section:
    """A heading's extent in the page text; `path` is its heading trail ("Rules > Chess")."""

    path: str
    start: int
    end: int


REFERENCES = "References"  # the section path of a page's reference list
# Headings of a reference list, whatever the book calls it.
REFERENCE_HEADINGS = frozenset(
    {
        "references",
        "bibliography",
        "works cited",
        "reference list",
        "further reading",
        "suggested reading",
        "suggested readings",
    }
)


# Headings of a box that sends the reader elsewhere (websites to browse, the publisher's resources): its sentences
# are course text but not what the course teaches, so never an answer.
LINK_OUT_HEADINGS = frozenset({"further research", "additional resources"})


def is_link_out(path: str) -> bool:
    """Whether a section (by its heading path) is, or is inside, a box of links out (`LINK_OUT_HEADINGS`)."""
    return any(part.strip().casefold() in LINK_OUT_HEADINGS for part in path.split(" > "))


def is_reference_list(path: str) -> bool:
    """Whether a section (by its heading path) is a reference list: its own heading is one of `REFERENCE_HEADINGS`."""
    return path.rsplit(" > ", 1)[-1].strip().casefold() in REFERENCE_HEADINGS


@dataclass(frozen=True)
class Document:
    """A loaded course page. Offsets everywhere refer to `text`."""

    page_id: str
    title: str
    text: str
    source: str
    format: str
    sections: tuple[Section, ...] = ()
    quotations: tuple[Quotation, ...] = ()
    references: tuple[Reference, ...] = ()
    key_terms: tuple[str, ...] = ()  # terms the page defines (emphasised where introduced)
    metadata: dict[str, str] = field(default_factory=dict)

    def section_at(self, at: int) -> str:
        """The heading trail of the innermost section holding offset `at` ("" outside every section)."""
        return next((s.path for s in reversed(self.sections) if s.start <= at < s.end), "")

    @property
    def own_references(self) -> tuple[Reference, ...]:
        """The page's own footnotes and reference-list entries (not those another page of its chapter lists)."""
        return tuple(r for r in self.references if not r.key.startswith(ELSEWHERE))

    @property
    def reference_spans(self) -> list[tuple[int, int]]:
        """(start, end) of the page's reference list sections ("References", "Bibliography", "Suggested Readings"...):
        their entries are references, not citations."""
        return [(s.start, s.end) for s in self.sections if is_reference_list(s.path)]


@dataclass(frozen=True)
class Chunk:
    """A piece of a page small enough for the embedding model, with where it came from."""

    id: str
    page_id: str
    position: int
    text: str
    start: int
    end: int
    title: str
    section: str = ""
    speaker: str = ""
    pages: str = ""

    @property
    def embed_text(self) -> str:
        """What the model and BM25 see: the page title and section path give a chunk its context."""
        head = " > ".join(p for p in (self.title, self.section) if p)
        if self.speaker:
            head += f" ({self.speaker} writes)"
        return f"{head}\n{self.text}" if head else self.text


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its score (higher is better)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class Cite:
    """A work cited inside a passage, resolved to its full reference when the page lists it."""

    label: str
    reference: str


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer."""

    n: int
    page_id: str
    title: str
    source: str
    section: str
    speaker: str
    pages: str
    cites: tuple[Cite, ...]
    text: str
    score: float
    start: int
    end: int
    speaker_reference: str = ""
    chain: str = ""
    offset: int = -1  # where the passage (`text`) starts in its page; -1 unknown


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer: its display text, the citation number [n] it carries, and where it stands in the
    cited page (`page_id`, character offsets; -1 for a generated sentence, which quotes no single span)."""

    text: str
    n: int
    page_id: str = ""
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Answer:
    """What `ask` returns to the CLI, the UI and evaluation alike. `answer` is the sentences as one text, each
    followed by its [n] marker; the sentences themselves are data, so nothing needs to parse that text."""

    question: str
    answer: str
    refused: bool
    citations: tuple[Citation, ...]
    closest_pages: tuple[str, ...] = ()
    generated: bool = False  # written by a language model (else extracted verbatim)
    dropped: int = 0  # sentences removed by the verifier
    sentences: tuple[AnswerSentence, ...] = ()
    searched: str = ""  # what retrieval was asked: the question made standalone for a follow-up ("" = the question)

    @classmethod
    def from_sentences(
        cls,
        question: str,
        sentences: tuple[AnswerSentence, ...],
        citations: tuple[Citation, ...],
        closest_pages: tuple[str, ...] = (),
        generated: bool = False,
    ) -> Answer:
        """An answer made of cited sentences; its text is "sentence [n] sentence [n] ..."."""
        text = " ".join(f"{s.text} [{s.n}]" for s in sentences)
        return cls(question, text, False, citations, closest_pages, generated, 0, sentences)


def course_source(source: str, corpus: str | Path) -> str:
    """Where a page came from, as shown outside the server: its path relative to the corpus folder (a URL as is; a
    file outside the corpus by its name), so no answer reveals the server's own paths."""
    if re.match(r"https?://", source):
        return source
    path = Path(source)
    try:
        return path.resolve().relative_to(Path(corpus).resolve()).as_posix()
    except (ValueError, OSError):
        return path.name


ATTRIBUTION_COLUMNS = [
    "n",
    "cited span",
    "speaker",
    "page locator",
    "quotation chain",
    "cited work",
    "full reference",
    "page",
    "section",
]


@dataclass(frozen=True)
class AttributionRow:
    """One row of an answer's attribution: a cited span -> its speaker -> page locator -> a cited work -> its full
    reference (one row per work). Computed once per answer (`explain.attribution_rows`) and carried as data."""

    n: int
    span: str
    speaker: str
    locator: str
    chain: str
    work: str
    reference: str
    page_id: str
    title: str
    section: str

    def columns(self) -> dict[str, str]:
        """The row as the table and the exports show it (`ATTRIBUTION_COLUMNS`)."""
        values = [str(self.n), self.span, self.speaker, self.locator, self.chain, self.work, self.reference]
        values += [f"{self.title} ({self.page_id})", self.section]
        return dict(zip(ATTRIBUTION_COLUMNS, values))


def answer_json(answer: Answer, corpus: str | Path | None = None) -> dict[str, Any]:
    """The `ask --json` shape; with `corpus`, each citation's `source` is relative to it (`course_source`)."""
    citations = [asdict(c) for c in answer.citations]
    if corpus is not None:
        for c in citations:
            c["source"] = course_source(c["source"], corpus)
    return {
        "question": answer.question,
        "searched": answer.searched or answer.question,
        "answer": answer.answer,
        "refused": answer.refused,
        "generated": answer.generated,
        "dropped": answer.dropped,
        "closest_pages": list(answer.closest_pages),
        "sentences": [asdict(s) for s in answer.sentences],
        "citations": citations,
    }


def error_json(question: object, error: Exception) -> dict[str, Any]:
    """An API's answer to a question it refused or could not answer: the question as sent (when it is text) and the
    one error shape (`errors.error_body`: its sentence, code and HTTP status, from `AtlasError.status`)."""
    echo = question.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(question, str) else None
    return {"question": echo, **error_body(error)}


def answer_from_json(data: Mapping[str, Any]) -> Answer:
    """The Answer back from its `ask --json` shape (e.g. a conversation's history sent to the HTTP API); missing
    citation fields take empty values. Raises KeyError, TypeError, ValueError or AttributeError on another shape.
    """
    citations = []
    for i, c in enumerate(data.get("citations") or ()):
        text = {k: str(c.get(k) or "") for k in ("page_id", "title", "source", "section", "speaker", "pages", "text")}
        citations.append(
            Citation(
                n=int(c.get("n") or i + 1),
                cites=tuple(Cite(str(x["label"]), str(x.get("reference") or "")) for x in c.get("cites") or ()),
                score=float(c.get("score") or 0.0),
                start=int(c.get("start") or 0),
                end=int(c.get("end") or 0),
                speaker_reference=str(c.get("speaker_reference") or ""),
                chain=str(c.get("chain") or ""),
                offset=int(c.get("offset", -1)),
                **text,  # type: ignore[arg-type]
            )
        )
    return Answer(
        question=str(data.get("question") or ""),
        answer=str(data["answer"]),
        refused=bool(data.get("refused", False)),
        citations=tuple(citations),
        closest_pages=tuple(data.get("closest_pages") or ()),
        generated=bool(data.get("generated", False)),
        dropped=int(data.get("dropped", 0)),
        sentences=tuple(
            AnswerSentence(
                text=str(x["text"]),
                n=int(x["n"]),
                page_id=str(x.get("page_id") or ""),
                start=int(x.get("start", -1)),
                end=int(x.get("end", -1)),
            )
            for x in data.get("sentences") or ()
        ),
        searched=str(data.get("searched", "")),
    )
