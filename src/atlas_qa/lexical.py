"""The lexical side: stemmed, stop-word-free tokens and a BM25 index over chunk texts (bm25s)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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


_SURFACE = re.compile(r"[a-z]+")


class LexicalIndex:
    """BM25 over a fixed list of texts; rebuilt (in well under a second for a course) when the corpus changes."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self.words = frozenset(w for t in texts for w in _SURFACE.findall(t.lower()))  # as written, for `respell`
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
        return self._idf(df) if df else 0.0

    def _idf(self, df: int) -> float:
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5)))

    def coverage(self, query: str) -> float:
        """Share of the query's stems that occur anywhere in the texts: low for questions about other subjects."""
        tokens = tokenize(query)
        return sum(t in self._df for t in tokens) / len(tokens) if tokens else 0.0

    def known_weight(self, query: str) -> float:
        """Share of the query's stem weight (idf) that the texts use, an unknown stem weighing as much as the rarest
        possible one (in one text): low when the question's telling word is a typo or a name the texts never use."""
        if not self.size:
            return 0.0
        weights = [(self.idf(t), True) if t in self._df else (self._idf(1), False) for t in tokenize(query)]
        total = sum(w for w, _ in weights)
        return sum(w for w, known in weights if known) / total if total > 0 else 0.0

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
    """Page-level lexical signals, each the share of the question a page's own terms cover: its title and key
    terms (weighted by how rare each word is), and the longest term it defines (in words)."""

    MAX_TERM_WORDS = 8

    def __init__(self, pages: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.size = len(pages)
        self._fields: dict[str, list[int]] = {}
        self._defines: dict[tuple[str, ...], list[int]] = {}
        for i, (title, terms) in enumerate(pages):
            for stem in set(tokenize(title + "\n" + "\n".join(terms))):
                self._fields.setdefault(stem, []).append(i)
            for term in terms:
                stems = tuple(tokenize(term))
                if 0 < len(stems) <= self.MAX_TERM_WORDS:
                    self._defines.setdefault(stems, []).append(i)

    def covers(self, query: str, idf: Callable[[str], float]) -> np.ndarray:
        """Per page: the share of the query's word weight (`idf` of each stem) found in its title and key terms.

        A share, not a BM25 score: one common word of a long question matching a title counts for little."""
        out = np.zeros(self.size, dtype=np.float32)
        weights = [(stem, idf(stem)) for stem in tokenize(query)]
        total = sum(w for _, w in weights)
        if total <= 0:
            return out
        for stem, w in weights:
            out[self._fields.get(stem, [])] += w / total
        return out

    def defines(self, query: str) -> np.ndarray:
        """Per page: len(longest defined term found in the query) / len(query), in words after stemming."""
        out = np.zeros(self.size, dtype=np.float32)
        stems = tokenize(query)
        for n in range(1, min(self.MAX_TERM_WORDS, len(stems)) + 1):
            for i in range(len(stems) - n + 1):
                for page in self._defines.get(tuple(stems[i : i + n]), ()):
                    out[page] = max(out[page], n / len(stems))
        return out
