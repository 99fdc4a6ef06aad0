"""The lexical side: stemmed, stop-word-free tokens and a BM25 index over chunk texts (bm25s)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves define describe discuss explain identify
    meant mean term""".split()
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased Snowball stems of the words of `text`, stop words and footnote markers removed."""
    text = re.sub(r"\[\^[^\]\s]+\]", " ", text)
    words = [w.replace("’", "'") for w in _WORD.findall(text.lower())]
    return _stemmer().stemWords([w for w in words if w not in STOPWORDS])


class LexicalIndex:
    """BM25 over a fixed list of texts; rebuilt (in well under a second for a course) when the corpus changes."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        tokenized = [tokenize(t) or [""] for t in texts]
        self._df: dict[str, int] = {}
        for tokens in tokenized:
            for t in set(tokens):
                self._df[t] = self._df.get(t, 0) + 1
        if texts:
            self._bm25.index(tokenized, show_progress=False)

    def idf(self, token: str) -> float:
        """How rare a stem is in the texts (0 for stems the texts never use)."""
        df = self._df.get(token, 0)
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5))) if df else 0.0

    def coverage(self, query: str) -> float:
        """Share of the query's stems that occur anywhere in the texts: low for questions about other subjects."""
        tokens = tokenize(query)
        return sum(t in self._df for t in tokens) / len(tokens) if tokens else 0.0

    def scores(self, query: str) -> np.ndarray:
        """A BM25 score for every text, in the order given."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


class PageTerms:
    """Page-level lexical signals: BM25 over each page's title and key terms, and which pages define a term
    that the question names (the share of the question's words that the longest such term covers)."""

    MAX_TERM_WORDS = 8

    def __init__(self, pages: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.size = len(pages)
        self.fields = LexicalIndex([title + "\n" + "\n".join(terms) for title, terms in pages])
        self._defines: dict[tuple[str, ...], list[int]] = {}
        for i, (_, terms) in enumerate(pages):
            for term in terms:
                stems = tuple(tokenize(term))
                if 0 < len(stems) <= self.MAX_TERM_WORDS:
                    self._defines.setdefault(stems, []).append(i)

    def defines(self, query: str) -> np.ndarray:
        """Per page: len(longest defined term found in the query) / len(query), in words after stemming."""
        out = np.zeros(self.size, dtype=np.float32)
        stems = tokenize(query)
        for n in range(1, min(self.MAX_TERM_WORDS, len(stems)) + 1):
            for i in range(len(stems) - n + 1):
                for page in self._defines.get(tuple(stems[i : i + n]), ()):
                    out[page] = max(out[page], n / len(stems))
        return out
