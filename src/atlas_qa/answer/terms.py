"""What a question names and where a page answers for it: a cited author and the sentences the page attributes to
them, a key term and the sentence that defines it, a concept the course only links to, the page's own metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..attribution import find_citations
from ..lexical import tokenize
from ..types import Answer, Document
from .kinds import WORK_DATE
from .sentences import Sentence
from .verify import clean


def named_author(question: str, docs: Iterable[Document]) -> str:
    """A surname the question names that the pages cite or quote ("Fountain"), else "".

    A question typed with capitals must spell the name with one ("how Long" is not the author Long); one typed all in
    lower case may name "fountain": a person's name as a reference list writes it ("Fountain, J. E.") or a quoted
    speaker's, which the pages capitalise away from a sentence's start (not "how", "study" or "international")."""
    words = re.findall(r"[A-Za-z][A-Za-z'’-]{2,}", question)
    typed_lower = question[1:] == question[1:].lower()
    if not typed_lower:
        names_asked = {w for w in words[1:] if w[0].isupper()} | ({words[0]} if words else set())
    else:
        names_asked = {w.capitalize() for w in words}
    docs = list(docs)
    for doc in docs:
        listed = [r for r in doc.own_references if not r.key.startswith("^")]
        speakers = {q.speaker.split()[-1] for q in doc.quotations if q.speaker}
        for name in sorted(speakers.union(*(r.authors for r in listed))):
            if name not in names_asked and name.capitalize() not in names_asked:
                continue
            if not typed_lower or (
                (name in speakers or any(re.search(rf"\b{re.escape(name)},\s*[A-ZÀ-Þ]", r.text) for r in listed))
                and _a_name(name, docs)
            ):
                return name
    return ""


def _a_name(name: str, docs: list[Document]) -> bool:
    """Whether the pages write `name` as a name: capitalised, not at a sentence's start, more often than in lower case
    ("according to Weber", "(Fountain, 2001)"; not "how", "study", "international", which titles also hold)."""
    capitalised = lower = 0
    for text in (d.text for d in docs):
        capitalised += sum(
            not _SENTENCE_START.search(text, max(0, m.start() - 12), m.start())
            for m in re.finditer(rf"\b{re.escape(name)}\b", text)
        )
        lower += len(re.findall(rf"\b{re.escape(name.lower())}\b", text))
    return capitalised > lower


_SENTENCE_START = re.compile(r"(?:\A|[.!?:\n])[\s\"“*_#>-]*\Z")  # the text before a word that starts a sentence


def named_thing(question: str, docs: Iterable[Document]) -> str:
    """A name of two to four words the question gives ("three mile island", "Little Albert") that a page writes as a
    name: each word capitalised, not at a sentence's start nor in a heading ("... after the Three Mile Island
    accident"), else "". The course has something to say about what it names."""
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", question)
    texts = [d.text for d in docs]
    for n in (4, 3, 2):
        for i in range(len(words) - n + 1):
            run = words[i : i + n]
            if any(len(w) < 3 or not tokenize(w) for w in run):
                continue
            name = re.compile(r"\b" + r"\s+".join(re.escape(w[:1].upper() + w[1:].lower()) for w in run) + r"\b")
            for text in texts:
                for m in name.finditer(text):
                    line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
                    if not line.lstrip().startswith("#") and not _SENTENCE_START.search(
                        text, max(0, m.start() - 12), m.start()
                    ):
                        return " ".join(run)
    return ""


def work_title(reference: str) -> str:
    """The main title of a reference-list entry: after its year, up to a subtitle or the end of the title
    ("Tapscott, D., & Williams, A. D. (2006). Wikinomics: How ..." -> "Wikinomics"), else ""."""
    m = re.search(r"\(\d{4}[a-z]?\)[.,]?\s+(?P<title>[^.:?!–—(]{3,80}?)\s*(?:[.:?!–—(]|$)", reference)
    return m.group("title").strip() if m else ""


def defined_here(question: str, docs: Iterable[Document]) -> bool:
    """Whether the question is about a key term one of the pages defines: the term covers at least half of the
    question's content words ("What are de jure rules?", not "Explain the offside rule in ice hockey")."""
    stems = tokenize(question)
    text = " " + " ".join(stems) + " "
    for doc in docs:
        for term in doc.key_terms:
            t = tokenize(term)
            if t and f" {' '.join(t)} " in text and 2 * len(t) >= len(stems):
                return True
    return False


def attributed(c: Sentence, author: str, docs: dict[str, Document]) -> bool:
    """Whether the page attributes the sentence to `author`: their quotation, a citation of them, or their name."""
    doc = docs[c.page_id]
    quotes = [q for q in doc.quotations if q.speaker and q.speaker.split()[-1] == author]
    if any(q.start <= c.start and c.end <= q.end for q in quotes):
        return True
    if any(x.surname == author for x in find_citations(c.text)):
        return True
    return re.search(rf"\b{re.escape(author)}\b", c.text) is not None


def in_bold(text: str, term: str) -> bool:
    """Whether a sentence sets `term` in bold: how the textbook marks the sentence that introduces a key term."""
    stems = tokenize(term)
    return bool(stems) and any(tokenize(bold) == stems for bold in re.findall(r"\*\*([^*]+)\*\*", text))


def defines(text: str, term: str) -> bool:
    """Whether a sentence defines `term`: the term in bold where introduced, or "term is/are/refers to/means"."""
    stems = tokenize(term)
    if not stems:
        return False
    if in_bold(text, term):
        return True
    pattern = r"\b" + r"\W+(?:\w+\W+){0,1}".join(re.escape(w) for w in term.split()) + r"\w*"
    verb = r"[^.;]{0,30}?\b(?:is|are|was|were|refers? to|means?|describes?|is defined as|is known as|is called)\b"
    return re.search(pattern + verb, clean(text), re.I) is not None


def only_related(term: str, cands: list[Sentence], docs: dict[str, Document]) -> list[str]:
    """Pages that only link to `term` ("See also: ...") while no retrieved sentence explains it."""
    stems = " ".join(tokenize(term))
    if not stems or any(stems in " ".join(tokenize(c.text)) for c in cands if c.shown):
        return []
    return [
        pid
        for pid, doc in docs.items()
        if any(" ".join(tokenize(x)) == stems for x in doc.metadata.get("see_also", "").split(";"))
    ]


def related_concept(question: str, term: str, pages: Sequence[str], closest: tuple[str, ...]) -> Answer:
    """The answer for a concept the course names only as a related concept."""
    text = (
        f"The course mentions “{term}” only as a related concept (“See also”) without explaining it; "
        "see the page listed below."
    )
    return Answer(
        question=question,
        answer=text,
        refused=True,
        citations=(),
        closest_pages=tuple(pages) + tuple(p for p in closest if p not in pages),
    )


def metadata_sentence(field: str, doc: Document) -> Sentence | None:
    """The page's own line that states its author, date or topic, or, for `WORK_DATE` + a title, the entry of its
    reference list for that work (which says when it was published), as an answer sentence."""
    if field.startswith(WORK_DATE):
        return _reference_entry(field[len(WORK_DATE) :], doc)
    value = {
        "author": doc.metadata.get("author"),
        "date": doc.metadata.get("date"),
        "topic": doc.metadata.get("topic"),
    }.get(field)
    if not value:
        return None
    return _line_with(value, doc)


def _reference_entry(title: str, doc: Document) -> Sentence | None:
    """The page's reference-list entry for the work titled `title` (its main title, any case), if it has one."""
    wanted = " ".join(title.lower().split())
    for ref in doc.own_references:
        if ref.key.startswith("^") or not ref.year:
            continue
        if " ".join(work_title(ref.text).lower().split()) == wanted:
            return _line_with(ref.text, doc)
    return None


def _line_with(value: str, doc: Document) -> Sentence | None:
    """The line of the page that holds `value` (whitespace as the page has it), as a sentence."""
    found = re.search(r"\s+".join(map(re.escape, value.split())), doc.text)  # the page may space with NBSPs
    if found is None:
        return None
    at = found.start()
    start = doc.text.rfind("\n", 0, at) + 1
    end = doc.text.find("\n", at)
    end = len(doc.text) if end < 0 else end
    return Sentence(0, doc.page_id, start, end, doc.text[start:end].strip())
