"""Does a student's question ask the same thing as a question an instructor reviewed?

A question matches a reviewed question of its own course when

    score = cosine(question, reviewed) - WEIGHT x disagreements  >=  THRESHOLD

with the vectors of the course's embedder (both questions first put in the course's words by the caller:
`Atlas.in_course_words`), and `disagreements` the number of cues on which the two questions differ, cues that say
what is asked about a topic rather than what the topic is (a near-miss on the same topic embeds close to the question
it misses):

- each *focus* that one question asks for and the other does not: an example, a reason, a time, a place, a person,
  a quantity, an effect, a comparison ("why did Plato ..." vs "who ...", "an example of X" vs "the difference
  between X and Y");
- *numbers*: both name numbers, and not the same ones ("in 2016" vs "in 2020"; a number only one names is a detail
  left out, not another question);
- *negation*: one is negated and the other not ("why did ..." vs "why didn't ...").

The best-scoring reviewed question is the match when its score reaches `THRESHOLD`; a question of another course
never matches. `THRESHOLD` and `WEIGHT` are measured on the polisci paraphrase pairs, cross-validated, with the other
books' questions as distractors (`benchmarks/paraphrase.py`, docs/reviews.md).

Cost: one matrix-vector product and a few integer operations per reviewed question (the cues are bit masks
computed once per reviewed question): well under a millisecond for 1,000 reviewed questions.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THRESHOLD = 0.80  # measured: docs/reviews.md "Matching a question to a reviewed one"
WEIGHT = 0.15  # score lost per disagreement (measured with THRESHOLD)

# What a question can ask for about its topic. A cue is a word (typos of a long one included), a word at the start
# of a clause (a relative "people who vote" or a conditional "when people say" is not a question about a person or
# a time), or two words in a row.
FOCUSES = ("example", "reason", "time", "place", "person", "quantity", "effect", "comparison")
_WORDS = {
    "example": {"example", "examples", "instance", "instances"},
    "reason": {"why", "reason", "reasons", "reasoning", "purpose", "motive", "motives"},
    "comparison": set(
        "difference differences differ differs different distinction distinguish separates compare compared "
        "comparison contrast vs versus".split()
    ),
    "effect": {"react", "reacted", "reaction", "reactions"},
}
_TYPO_LETTERS = 6  # a cue word this long is also read through one typing slip ("exmaple", "diffrence")


def _deletions(word: str) -> set[str]:
    """`word` and every word one letter shorter: two words one slip apart share one (so do a few two slips apart,
    "reacted" and "created": `_one_edit` decides)."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _slips(words: dict[str, set[str]]) -> dict[str, set[tuple[str, str]]]:
    """Each deletion of a long cue word -> the (focus, cue word)s it comes from."""
    out: dict[str, set[tuple[str, str]]] = {}
    for focus, cues in words.items():
        for cue in cues:
            if len(cue) >= _TYPO_LETTERS:
                for v in _deletions(cue):
                    out.setdefault(v, set()).add((focus, cue))
    return out


_NEAR = _slips(_WORDS)


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` and `b` are one typing slip apart (a letter dropped, added, changed, or two swapped)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


_CLAUSE_START = {"person": {"who", "whom", "whose"}, "time": {"when"}, "place": {"where"}}
_PAIRS = (  # (focus, first words, second words)
    ("reason", {"what", "how"}, {"made", "caused", "causes", "led", "come"}),
    ("time", {"what", "which"}, {"year", "years", "decade", "decades", "century", "date", "era"}),
    ("quantity", {"how"}, {"much", "many", "long", "often"}),
    ("quantity", {"what"}, {"share", "percent", "percentage", "proportion", "fraction", "amount", "number"}),
    ("example", {"a", "any", "one", "real"}, {"case"}),
    ("effect", {"what", "the", "main"}, {"effect", "effects", "impact", "impacts", "consequence", "consequences"}),
    ("person", {"which", "what"}, {"person", "people", "thinker", "thinkers", "writer", "author", "philosopher"}),
)
_EFFECT_WORDS = _PAIRS[5][2]
_EFFECT_NEXT = {"of", "on", "did", "does", "do", "has", "have", "had"}
_SORTS = {"kinds", "kind", "types", "type", "sorts", "forms", "ways"}
_AUXILIARIES = set("is are was were do does did will would can could should has have had".split())
_BOUNDARIES = {",", ";", ":", "?", "!", ".", "(", ")", "-", "and", "or", "but", "so", "also"}
_PREPOSITIONS = {"by", "to", "for", "from", "of", "with", "in", "on", "at", "since"}
_NEGATIONS = {"not", "no", "never", "nor", "cannot", "without"}
_UNAPOSTROPHISED = set(  # negations typed without the apostrophe
    "cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[,;:?!.()\-–—]")
_NUMBER = re.compile(r"\d+")
_BITS = {name: 1 << i for i, name in enumerate((*FOCUSES, "negation"))}
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << len(_BITS))], dtype=np.int8)


@dataclass(frozen=True)
class Cues:
    """What a question asks about its topic: its focuses, the numbers it names, whether it is negated."""

    focuses: frozenset[str]
    numbers: frozenset[str]
    negated: bool

    @property
    def bits(self) -> int:
        return sum(_BITS[f] for f in self.focuses) | (_BITS["negation"] if self.negated else 0)

    @property
    def number_key(self) -> int:
        """0 for no numbers, else a checksum of the set (two sets differ when their keys differ)."""
        return zlib.crc32(",".join(sorted(self.numbers)).encode()) + 1 if self.numbers else 0


def cues(question: str) -> Cues:
    """The cues of `question` (lower-cased; typed apostrophes and contractions understood)."""
    text = question.lower().replace("’", "'").replace("–", "-").replace("—", "-")
    tokens = [t.removesuffix("'s") for t in _TOKEN.findall(text)]
    focuses: set[str] = set()
    for i, word in enumerate(tokens):
        before = tokens[i - 1] if i else ","
        after = tokens[i + 1] if i + 1 < len(tokens) else "?"
        for focus, words in _WORDS.items():
            if word in words:
                focuses.add(focus)
        if len(word) >= _TYPO_LETTERS:
            near = {cue for v in _deletions(word) for cue in _NEAR.get(v, ())}
            focuses.update(focus for focus, cue in near if _one_edit(word, cue))
        if word == "different" and after in _SORTS:  # "different kinds of X": a list, not a comparison
            focuses.discard("comparison")
        starts = before in _BOUNDARIES or (before in _PREPOSITIONS and (tokens[i - 2] if i > 1 else ",") in _BOUNDARIES)
        for focus, words in _CLAUSE_START.items():
            # "when"/"where" ask for a time or place when a verb or the end follows ("when did", "and where?")
            verb = after in _AUXILIARIES or after.endswith("n't") or after in _UNAPOSTROPHISED
            if word in words and starts and (focus == "person" or verb or after in _BOUNDARIES):
                focuses.add(focus)
        for focus, first, second in _PAIRS:
            if before in first and word in second:
                focuses.add(focus)
        if word in _EFFECT_WORDS and after in _EFFECT_NEXT:
            focuses.add("effect")
        if (word, after) in {("turn", "out"), ("turned", "out"), ("turns", "out")}:
            focuses.add("effect")
    negated = any(t in _NEGATIONS or t.endswith("n't") or t in _UNAPOSTROPHISED for t in tokens)
    return Cues(frozenset(focuses), frozenset(_NUMBER.findall(text)), negated)


def differences(a: Cues, b: Cues) -> tuple[str, ...]:
    """The cues on which `a` and `b` disagree, by name (focuses, "negation", "numbers"): what
    `ReviewedQuestions.scores` counts, from the same bit masks and number keys."""
    out = [name for name, bit in _BITS.items() if (a.bits ^ b.bits) & bit]
    if a.number_key and b.number_key and a.number_key != b.number_key:
        out.append("numbers")
    return tuple(out)


@dataclass(frozen=True)
class Match:
    """The reviewed question a question matched: its position and id, the score, and how it was made."""

    index: int
    id: str
    score: float
    cosine: float
    differences: tuple[str, ...]  # the cues on which the two questions disagree (each cost WEIGHT)


class ReviewedQuestions:
    """The reviewed questions of one course, ready to match: unit vectors and cues, computed once.

    Args:
        course: the course the questions were reviewed in; questions of another course never match them.
        ids: each reviewed question's id (e.g. its review's), in the order of `texts`.
        texts: the reviewed questions as asked.
        vectors: their vectors from the course's embedder (one row per text), the embedder retrieval uses.
    """

    def __init__(self, course: str, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"Give one vector per reviewed question: {len(texts)} questions, vectors {vectors.shape}.")
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids were given for {len(texts)} reviewed questions; give one id each.")
        self.course = course
        self.ids = tuple(ids)
        self.texts = tuple(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors / np.where(norms > 0, norms, 1.0)
        self.cues = tuple(cues(t) for t in texts)
        self._bits = np.array([c.bits for c in self.cues], dtype=np.int64)
        self._numbers = np.array([c.number_key for c in self.cues], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.texts)

    def scores(self, question: str, vector: np.ndarray, weight: float = WEIGHT) -> tuple[np.ndarray, np.ndarray]:
        """(score, cosine) of `question` against every reviewed question, in their order."""
        if not len(self):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        vector = np.asarray(vector, dtype=np.float32).ravel()
        if vector.shape[0] != self.vectors.shape[1]:
            raise ValueError(
                f"The question's vector has {vector.shape[0]} dimensions and the reviewed questions' "
                f"{self.vectors.shape[1]}: embed both with the course's embedder."
            )
        norm = float(np.linalg.norm(vector))
        cosine = self.vectors @ (vector / norm if norm else vector)
        own = cues(question)
        disagree = _POPCOUNT[self._bits ^ own.bits].astype(np.float32)
        if own.numbers:
            disagree += (self._numbers != 0) & (self._numbers != own.number_key)
        return cosine - weight * disagree, cosine


def match(
    question: str,
    vector: np.ndarray,
    course: str,
    reviewed: ReviewedQuestions,
    threshold: float = THRESHOLD,
    weight: float = WEIGHT,
) -> Match | None:
    """The reviewed question that `question` asks the same thing as, or None.

    Args:
        question: the student's question (a follow-up already made to stand alone).
        vector: its vector from the course's embedder (the one retrieval computed).
        course: the course it was asked in; `reviewed` of another course never matches.
        reviewed: the course's reviewed questions.
        threshold: the lowest score that matches.
        weight: what each disagreement costs (0: cosine alone, the baseline).

    Returns:
        The best-scoring reviewed question if its score reaches `threshold`, else None.
    """
    if course != reviewed.course or not len(reviewed):
        return None
    score, cosine = reviewed.scores(question, vector, weight)
    best = int(np.argmax(score))
    if score[best] < threshold:
        return None
    return Match(
        best,
        reviewed.ids[best],
        float(score[best]),
        float(cosine[best]),
        differences(cues(question), reviewed.cues[best]),
    )
