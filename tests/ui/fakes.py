"""What the UI tests share: a fake Atlas for the edges, a page with hostile markup, an answer citing it, and a
helper that asks through the chat's stream."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from atlas_qa.config import Settings
from atlas_qa.core import check_filters, check_question, standalone
from atlas_qa.types import Answer, AnswerSentence, Citation, Cite, Document
from atlas_qa.ui import ChatTurn, Views

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)><a href='javascript:alert(3)'>x</a>"
PAGE = "Intro line.\n\n" + "Pal writes: Rules matter a lot. " + EVIL + " Then more text follows here."
CHUNK = "Pal writes: Rules matter a lot. " + EVIL + " Then more text"
SPAN = (PAGE.index("Rules matter"), PAGE.index("Rules matter") + len("Rules matter a lot."))


def fake_citation(n: int = 1, text: str = CHUNK, start: int = SPAN[0], end: int = SPAN[1]) -> Citation:
    return Citation(
        n,
        "p",
        "Page <b>T</b>",
        "src",
        "Rules",
        "Pal",
        "213-214",
        (Cite("Pal, 2014", EVIL),),
        text,
        0.9,
        start,
        end,
        speaker_reference="Pal (2014). <i>Book</i>.",
        chain="Pal (2014, pp. 213-214)",
    )


def fake_answer(text: str = "Rules matter a lot. [1]", *citations: Citation) -> Answer:
    """An answer whose sentences are the "sentence [n]" pieces of `text`."""
    pieces = re.findall(r"(.+?) \[(\d+)\](?=\s|$)", text)
    sentences = tuple(AnswerSentence(t.strip(), int(n)) for t, n in pieces)
    return Answer.from_sentences("What did Pal say about rules?", sentences, citations or (fake_citation(),))


class FakeAtlas:
    """What the edges use of `Atlas` (ask, pages, a document, facets, the last ingest, a question's vector): records
    what the app asks; answers with a fixed Answer or raises."""

    def __init__(self, answer: Answer | None = None, error: Exception | None = None, tmp: Path | None = None):
        self.answer, self.error, self.asked = answer, error, []
        self.settings = Settings(index_dir=(tmp or Path("/nonexistent")) / "index")
        doc = Document("p", "Page <b>T</b>", PAGE, "src/p.txt", "concept", metadata={"course": "C<1>"})
        self.docs = {"p": doc}

    def ask(self, question, k=None, filters=None, history=None):
        question, filters = check_question(question), check_filters(filters)  # checked as Atlas.ask checks them
        searched = standalone(question, history)  # as Atlas.ask does: a follow-up is searched standalone
        self.asked.append((searched, filters))
        if self.error:
            raise self.error
        return replace(self.answer, question=question, searched=searched)

    def question_vector(self, text):
        return np.ones(4, dtype=np.float32) / 2

    def document(self, page_id: str) -> Document:
        from atlas_qa.errors import AtlasError

        if page_id not in self.docs:
            raise AtlasError(f"No page {page_id!r}")
        return self.docs[page_id]

    def pages(self):
        return [
            {"page_id": d.page_id, "title": d.title, "source": d.source, "chunks": 1, "indexed_at": 0.0}
            for d in self.docs.values()
        ]

    def last_ingest(self):
        return None

    def facets(self):
        return {"course": ["C<1>"]}


def ask_views(views: Views, question: str, turns=()) -> list[ChatTurn]:
    """Ask through the chat's stream (no delay); the turns after the answer."""
    *_, (_, _, turns) = views.stream(question, list(turns), delay=0)
    return turns
