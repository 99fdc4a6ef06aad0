"""A misspelled question word put right from the course's own words ("red corss" -> "red cross").

Used when a question would be refused, and to compare questions with reviewed ones (`Atlas.in_course_words`). A
question whose words the course all uses but one (not a name: a capitalised word inside the question is left as
typed) may have a slip of the keyboard in that word: it is replaced by the word the course writes one edit away (two
neighbouring letters swapped first, then a letter dropped, added or changed) that the course uses most. A question
with several words the course never uses is about another subject and stays as typed; so does a word with no such
neighbour, and a real word the course happens not to use (one the embedding model reads whole: "chunk" is not a slip
of the course's "chuck").
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Container, Iterator

from ..lexical import tokenize

MIN_LETTERS = 5  # shorter words have too many neighbours one edit away to guess which was meant
_WORD = re.compile(r"[A-Za-z]+")


def respell(
    question: str,
    idf: Callable[[str], float],
    words: Container[str] | None = None,
    known: Callable[[str], bool] | None = None,
) -> str:
    """`question` with its one word the course does not use (`idf` 0 for its stem) replaced by its best neighbour
    one edit away; `question` itself when no word, or more than one, is unknown, or the word has no neighbour.
    `words`: the course's words as written (lower-case); a neighbour must be one of them ("heuristcs" becomes
    "heuristics", not "heuristes", which has the same stem), else any word whose stem the course uses will do.
    `known`: whether a (lower-case) word is a real word though the course never writes it (`Embedder.knows`: the
    model's vocabulary); such a word stays as typed ("chunk" does not become "chuck")."""
    unknown = [m for m in _WORD.finditer(question) if (stems := tokenize(m.group(0))) and idf(stems[0]) == 0]
    if len(unknown) != 1:
        return question
    m = unknown[0]
    word = m.group(0)
    if len(word) < MIN_LETTERS or (m.start() > 0 and not word.islower()) or (known and known(word.lower())):
        return question
    best = min((n for n in _known_neighbours(word.lower(), idf) if words is None or n[2] in words), default=None)
    return question if best is None else question[: m.start()] + best[2] + question[m.end() :]


def _known_neighbours(word: str, idf: Callable[[str], float]) -> Iterator[tuple[bool, float, str]]:
    """(not a swap, idf, neighbour) for every word one edit from `word` whose stem the course uses."""
    for candidate in set(_edits(word)):
        stems = tokenize(candidate)
        if len(stems) == 1 and (weight := idf(stems[0])) > 0:
            yield sorted(candidate) != sorted(word), weight, candidate


def _edits(word: str) -> Iterator[str]:
    for i in range(len(word) + 1):
        left, right = word[:i], word[i:]
        if right:
            yield left + right[1:]
        if len(right) > 1:
            yield left + right[1] + right[0] + right[2:]
        for c in string.ascii_lowercase:
            if right:
                yield left + c + right[1:]
            yield left + c + right
