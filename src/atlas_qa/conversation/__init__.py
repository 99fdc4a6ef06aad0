"""Follow-up questions made standalone before retrieval: "what did he say about revolution?" -> "what did Locke ...".

Retrieval sees one question at a time, so a question that cannot stand alone is rewritten with what the conversation
so far was about. Only then: a pronoun that has something to refer to inside the question itself ("How can citizens
get access to their personal information?") is left alone, and so is a question without such words.

What a word refers to (`Context`, carried from turn to turn):
- he/she/him/his/her (and they/them/their for a person): the person the previous turn was about: a person the
  previous question named ("What did Locke argue ...?"), else the person most central to the previous answer (named
  in its sentences, "According to Borins", the speaker and the works cited of its first source);
- they/them/their for things: the previous question's topic when it is plural ("de jure rules");
- it/its/this/that: the previous question's topic ("the state of nature", "federalism"), kept through follow-ups;
- it/this/"this page" in a question about the page itself ("when was it last modified?", "who wrote this page?"):
  the page the previous answer quoted first, not its topic.

Pure functions over the conversation; `core.Atlas.ask(question, history=...)` calls `rewrite`. `reading` reads a
question or an answer (content words, persons, topic); `followup` carries the context and resolves the pronouns.
"""

from .followup import MAX_TURNS, Context, History, Turn, advance, context, history_from_json, resolve, rewrite, turns
from .reading import STOPWORDS, central_person, key_words, persons_in, topic_of

__all__ = [
    "MAX_TURNS",
    "STOPWORDS",
    "Context",
    "History",
    "Turn",
    "advance",
    "central_person",
    "context",
    "history_from_json",
    "key_words",
    "persons_in",
    "resolve",
    "rewrite",
    "topic_of",
    "turns",
]
