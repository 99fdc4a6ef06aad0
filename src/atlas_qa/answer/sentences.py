"""Candidate sentences: which page sentences may stand in an answer, and which lean on the sentence before them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spans import FIGURE_VERBS

MIN_SENTENCE_CHARS = 25
LABEL_WORDS = 15  # a one-line paragraph shorter than this that does not end as a sentence is a heading or label

_CLOSING = r"[”’\"')\]*_]*(?:\[\^[^\]\s]+\])*$"  # closing quotes, brackets, emphasis, a footnote marker
_SENTENCE_END = re.compile(r"[.!?…:;]" + _CLOSING)
_FULL_STOP = re.compile(r"[.!?…]" + _CLOSING)
_LIST_ITEM = re.compile(r"(?:[-*+]|\d+[.)])\s+(?=\*\*|[A-Z“\"])")  # a bullet or number, then a capital or a bold term

# Not statements of the course's content: headings, quotes-as-boxes, captions, tables, list bullets, "See also".
_NOT_PROSE = re.compile(
    r"^(?:#|>|\||[-*+]\s|\d+[.)]\s|\*?(?:Figure|Table|Source|Photo|Image|Video)\b[^.]{0,80}:|"
    r"See also\b|Page created by\b|\(credit\b)",
    re.I,
)
_LINK = re.compile(r"https?://|\bwww\.|\bdoi(?:\.org/|:)", re.I)  # a web address: a reference entry or a link out
_TABLE_ROW = re.compile(r"\s\|\s|;\s*[^;]{1,40};\s*[^;]{1,40}\s\|")
_QUESTION = re.compile(r"\?[\s”\"’')\]]*(?:\[\^[^\]\s]+\])*\s*$")
# The text speaking about itself or its reader instead of the subject: a sentence that opens "In this chapter", "the
# following section" (not "the following year"), "we will explore", "The table below shows" (a figure or table is
# never shown with an answer) or with the verb of a figure whose name was dropped ("summarizes the characteristics
# of ...", lower case), a link to follow.
_META = re.compile(
    rf"(?-i:^{FIGURE_VERBS}\s)|"
    r"^[\"“*_]*in this (?:section|chapter|module|unit|video|course|lesson)\b|"
    r"^[\"“*_]*(?:the|this|these|that)\s+(?:[a-z]+\s+)?(?:table|figure|chart|graph|map|diagram|image|photo|"
    r"photograph|timeline|infographic)s?\s+(?:(?:below|above)\s+)?(?:shows?|illustrates?|lists?|summari[sz]es|"
    r"compares?|presents?|depicts?|displays?|outlines?|highlights?)|"
    r"\b(?:this (?:section|chapter|video|module|lesson) "
    r"(?:will|explores|examines|discusses|describes|introduces|covers|looks)|the following(?!\s+"
    r"(?:years?|days?|weeks?|months?|decades?|century|centuries|morning|afternoon|evening|night|spring|summer|fall|"
    r"autumn|winter|season|generation)\b)|as we will see|"
    r"we will (?:explore|examine|discuss|look|see|consider|learn|turn|begin|now)|let(?:'|’)?s (?:look|consider|explore|"
    r"examine|turn)|let(?:(?:'|’)?s| us) take a (?:closer |brief |quick )?look|consider the following|"
    r"(?:visit|watch|click|read more|learn more)\b.{0,40}\b(?:link|video|website|site|online|in person)|this video|"
    r"you can (?:watch|visit|see|find|read))\b",
    re.I,
)
# The text sending its reader elsewhere ("Visit the Smithsonian Institute to explore...", "Watch this TED Talk...",
# "Read an 1860 editorial...", "Try this fun activity...") or back ("Recall the discussion of groups."), or telling
# them how to study ("Pay careful attention to the real-life examples."): the textbooks' boxes, not what they say.
_ELSEWHERE = re.compile(
    r"^[\"“]?(?:Visit|Explore|Watch|Listen|Browse|View|Check out|Go (?:to|on)|Take a (?:look|few minutes|moment)|"
    r"Click\s|Learn more|Read(?=\s)|See the|See for yourself|(?:Use|Try) this|Pay (?:careful |close )?attention|"
    r"Think back|Recall (?:the|our) (?:discussion|section|chapter|example))\b"
)
# Text addressed to a language model or an assistant, not to students: instructions planted in a page. Never quoted
# as an answer; flagged at ingest and kept out of the index (planted.py). Phrased so that course prose about rules,
# systems or forgetting does not match: an order to drop *earlier* text or *your* instructions, a role marker, a
# request for secrets, or a sentence that names its reader as a model.
_OBJECT = (
    r"(?:instructions?|prompts?|rules|guidelines|directives|directions|material|passages?|context|text|content|"
    r"messages?)"
)
_PLANTED = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|every|of|the|your|these|those|my)\s+)*"
    rf"(?:(?:previous|prior|above|earlier|preceding|foregoing|original|system|safety|course)\s+)+{_OBJECT}\b|"
    rf"\b(?:ignore|disregard|forget)\s+(?:(?:all|any|the|your|these)\s+)*{_OBJECT}\s+"
    r"(?:above|before|so far|provided|you (?:were|have been) given)\b|"
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any)\s+)?your\s+(?:instructions?|prompts?|rules|guidelines|"
    r"programming|training)\b|"
    r"\bsystem prompt\b|\byou are now\b[^.;!?]{0,40}\bmode\b|\b(?:jailbreak|DAN) mode\b|"
    r"\b(?:you are|if you are) (?:now )?(?:an? |the )?(?:ai|assistant|chatbot|(?:large )?language model|llm)\b"
    r"(?!\s+(?:professor|coach|manager|director|editor|principal|teacher|secretary|to|of)\b)|\bas an ai\b|"
    r"\bassistant:|\bnote to (?:the )?(?:ai|assistant|chatbot|(?:large )?language model|llm)\b|"
    r"\b(?:language models?|llms?|ai (?:models?|assistants?|systems?)|chatbots?)\b[^.;!?]{0,30}\b(?:reading|processing|"
    r"summari[sz]ing) this\b|"
    r"\b(?:reveal|print|output|disclose|repeat|leak|tell)\b[^.;!?]{0,40}\b(?:system prompt|(?:admin(?:istrator)?|root)"
    r" password|passwords|api keys?|secret keys?|your (?:instructions|prompt))\b",
    re.I,
)
_ROLE = re.compile(r"(?:^|[\s\"“(\[])(?:SYSTEM|ASSISTANT|DEVELOPER)(?: PROMPT)?\s*:|\[/?INST\]|<\|im_(?:start|end)\|>")


def is_planted_instruction(text: str) -> bool:
    """Whether a sentence speaks to a language model or an assistant (an instruction planted in a course page)."""
    return bool(_PLANTED.search(text) or _ROLE.search(text))


# First words that point back to the sentence before ("These drawbacks ...", "However, this ...").
_POINTS_BACK = re.compile(
    r"^[\"“]?(?:this|these|those|that|such|it|they|them|their|its|he|she|his|her|thus|hence|therefore|however|"
    r"but|yet|also|equally|likewise|similarly|moreover|furthermore|instead|still|nonetheless|nevertheless|"
    r"consequently|accordingly|otherwise|then|both|neither|either|another|other|others|"
    r"in (?:this|that|these|those|other|such|contrast|addition|turn|short|sum|response)|for (?:this|that|these)|"
    r"as (?:a result|such|noted|mentioned)|on the other hand|the (?:latter|former|first|second|third|other|same)|"
    r"at the same time|even so|after (?:this|that))\b"
    # ... or whose subject, after an opening phrase, is a pronoun ("Eventually, he became ...", "Much like the lit fuse
    # of a firecracker, it does not fade away ..."); not when the phrase is a clause with its own subject ("If a sound
    # comes from the left, it ...") or the pronoun is the "it" of "it is possible ..."
    r"|^(?!(?:if|when|whenever|because|although|though|while|as|since|after|before|once|unless|until|whereas|where|"
    r"whether|even)\b)[^,;:.]{0,70},\s*(?:he|she|they|this|these|it(?!\s+(?:is|was|can|could|may|might|would|will|"
    r"seems|appears|takes|remains|becomes|should|has been|had been)\b))\b",
    re.I,
)


def is_answer_sentence(text: str) -> bool:
    """Whether a page sentence may be shown as an answer sentence: prose that states something, not a heading,
    caption or its credit, table row, list bullet, "See also" line, question, remark about the text itself, a pointer
    to another resource ("Visit ...", "Watch ..."), a web address (a reference entry) or planted instruction."""
    t = text.strip()
    if len(t) < MIN_SENTENCE_CHARS or _NOT_PROSE.match(t.lstrip("*_ ")) or _NOT_PROSE.match(t):
        return False
    if _TABLE_ROW.search(t) or _QUESTION.search(t) or t.endswith(":") or _LINK.search(t):
        return False
    return not (_META.search(t) or _ELSEWHERE.match(t.lstrip("*_ ")) or is_planted_instruction(t))


def prose_start(block: str) -> int | None:
    """Where a paragraph's running prose starts: 0 for prose, after the marker for a list item written as a sentence
    ("- **Environmental migration** is displacement caused by natural disasters..."); None for a heading, box,
    caption, table, list of fragments or label, none of whose sentences may be shown (a caption's second sentence
    does not look like a caption)."""
    first = block.strip()
    item = _LIST_ITEM.match(first)
    if item:
        return block.index(first) + item.end() if _FULL_STOP.search(first) else None
    # an italic caption ("*Figure: ...*"), not a paragraph that opens with its term in bold ("**Term** is ...")
    italic = first.startswith(("*", "_")) and not first.startswith(("**", "__"))
    # a short line that does not end as a sentence does: a plain-text heading ("Atlas topic, subject, and course"),
    # a label ("Article 14"), a name and affiliation, a lead-in ("... Milkis writes,")
    label = "\n" not in first and len(first.split()) < LABEL_WORDS and not _SENTENCE_END.search(first)
    if _NOT_PROSE.match(first) or _NOT_PROSE.match(first.lstrip("*_ ")) or italic or label:
        return None
    return 0


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
    heading: str = ""  # of its section (the page's title before the first), what the sentence is about
