"""Candidate sentences: which page sentences may stand in an answer, and which lean on the sentence before them."""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_SENTENCE_CHARS = 25

# Not statements of the course's content: headings, quotes-as-boxes, captions, tables, list bullets, "See also".
_NOT_PROSE = re.compile(
    r"^(?:#|>|\||[-*+]\s|\d+[.)]\s|\*?(?:Figure|Table|Source|Photo|Image|Video)\b[^.]{0,80}:|"
    r"See also\b|Page created by\b)",
    re.I,
)
_TABLE_ROW = re.compile(r"\s\|\s|;\s*[^;]{1,40};\s*[^;]{1,40}\s\|")
_QUESTION = re.compile(r"\?[\s”\"’')\]]*(?:\[\^[^\]\s]+\])*\s*$")
# The text speaking about itself or its reader instead of the subject.
_META = re.compile(
    r"\b(?:in this (?:section|chapter|module|unit|video|course|lesson)|this (?:section|chapter|video|module|lesson) "
    r"(?:will|explores|examines|discusses|describes|introduces|covers|looks)|the following|as we will see|"
    r"we will (?:explore|examine|discuss|look|see|consider|learn|turn|begin|now)|let(?:'|’)?s (?:look|consider|"
    r"explore|examine|turn)|consider the following|(?:visit|watch|click|read more|learn more)\b.{0,40}\b(?:link|video|"
    r"website|site|online|in person)|this video|you can (?:watch|visit|see|find|read))\b",
    re.I,
)
# Text addressed to a language model or an assistant: never quoted as an answer (planted instructions).
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,30}\b(?:instructions?|prompts?|rules)\b|\bsystem prompt\b|"
    r"\byou are (?:now )?(?:an? )?(?:ai|assistant|chatbot|language model|llm)\b|\b(?:as an ai|assistant:)",
    re.I,
)
# First words that point back to the sentence before ("These drawbacks ...", "However, this ...").
_POINTS_BACK = re.compile(
    r"^[\"“]?(?:this|these|those|that|such|it|they|them|their|its|he|she|his|her|thus|hence|therefore|however|"
    r"but|yet|also|equally|likewise|similarly|moreover|furthermore|instead|still|nonetheless|nevertheless|"
    r"consequently|accordingly|otherwise|then|both|neither|either|another|other|others|"
    r"in (?:this|that|these|those|other|such|contrast|addition|turn|short|sum|response)|for (?:this|that|these)|"
    r"as (?:a result|such|noted|mentioned)|on the other hand|the (?:latter|former|first|second|third|other|same)|"
    r"at the same time|even so|after (?:this|that))\b",
    re.I,
)


def is_answer_sentence(text: str) -> bool:
    """Whether a page sentence may be shown as an answer sentence: prose that states something, not a heading,
    caption, table row, list bullet, "See also" line, question, remark about the text itself or planted instruction."""
    t = text.strip()
    if len(t) < MIN_SENTENCE_CHARS or _NOT_PROSE.match(t.lstrip("*_ ")) or _NOT_PROSE.match(t):
        return False
    if _TABLE_ROW.search(t) or _QUESTION.search(t) or t.endswith(":"):
        return False
    return not (_META.search(t) or _INSTRUCTION.search(t))


def is_prose_block(block: str) -> bool:
    """Whether a paragraph is running prose: not a heading, box, caption, table or list, none of whose sentences may
    be shown (a caption's second sentence does not look like a caption)."""
    first = block.lstrip()
    return not (_NOT_PROSE.match(first) or _NOT_PROSE.match(first.lstrip("*_ ")) or first.startswith(("*", "_")))


def points_back(text: str) -> bool:
    """Whether a sentence's first words lean on the sentence before it."""
    return bool(_POINTS_BACK.match(text.strip().lstrip("*_ ")))


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence of a retrieved passage: where it is in its page and how well it answers."""

    passage_rank: int
    page_id: str
    start: int
    end: int
    text: str
    score: float = 0.0
    shown: bool = True  # may stand in an answer
