"""Evaluation data sets: our question and claim sets (JSONL), and BEIR folders turned into a corpus."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AtlasError

# Characters PyYAML refuses or reads as line breaks; written as \uXXXX escapes in double-quoted front matter values.
_YAML_UNSAFE = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Question:
    """A question with the page(s) that answer it; `kind` groups questions in the report."""

    id: str
    question: str
    gold_pages: tuple[str, ...]
    kind: str = ""

    def __post_init__(self) -> None:
        # A single page id passed as a string is one gold page, not a tuple of characters.
        pages = (self.gold_pages,) if isinstance(self.gold_pages, str) else tuple(self.gold_pages)
        object.__setattr__(self, "gold_pages", pages)

    @property
    def gold_page(self) -> str:
        """The first (usually only) gold page."""
        return self.gold_pages[0] if self.gold_pages else ""


@dataclass(frozen=True)
class Claim:
    """A sentence of a page and the reference that supports it."""

    id: str
    claim: str
    gold_page: str
    reference: str


def load_claims(path: Path) -> list[Claim]:
    """Read claims JSONL: {"id", "claim", "gold_page", "reference"} per line."""
    claims = []
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        claims.append(
            Claim(
                id=text_field(obj, "id", where),
                claim=text_field(obj, "claim", where),
                gold_page=text_field(obj, "gold_page", where, required=False),
                reference=text_field(obj, "reference", where),
            )
        )
    if not claims:
        raise AtlasError(f"{path} holds no claims.")
    return claims


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a malformed line raises AtlasError naming file:line."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise AtlasError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AtlasError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise AtlasError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def text_field(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        got = "missing" if key not in obj else f"got {json.dumps(value)[:60]}"
        raise AtlasError(f"{where}: {key!r} must be a non-empty string ({got})")
    return value.strip()


def load_questions(path: Path, require_gold: bool = True) -> list[Question]:
    """Read a JSONL question set: one {"id", "question", "gold_page", "kind"?} object per line.

    `gold_page` may also be a list of page ids when several pages answer the question; with `require_gold` off
    (out-of-scope sets) it may be missing.

    Raises:
        AtlasError: naming file:line and the problem for the first bad line, or when the file holds no questions.
    """
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        qid = text_field(obj, "id", where)
        text = text_field(obj, "question", where)
        gold = obj.get("gold_page")
        if isinstance(gold, list) and gold and all(isinstance(g, str) and g.strip() for g in gold):
            pages = tuple(dict.fromkeys(g.strip() for g in gold))
        elif gold is None and not require_gold:
            pages = ()
        else:
            pages = (text_field(obj, "gold_page", where),)
        kind = text_field(obj, "kind", where, required=False)
        if qid in seen:
            raise AtlasError(f"{where}: duplicate id {qid!r} (first on line {seen[qid]})")
        seen[qid] = lineno
        questions.append(Question(qid, text, pages, kind))
    if not questions:
        raise AtlasError(f"{path}: no questions found (expected one JSON object per line)")
    return questions


def load_beir(folder: Path, split: str = "test") -> tuple[list[dict[str, str]], list[Question]]:
    """Read a BEIR dataset folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

    Returns:
        The corpus records ({"_id", "title", "text"}) and the questions that have at least one relevant
        document (qrels score > 0); their gold pages are the relevant corpus ids, in qrels order.
    """
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for need in (corpus_path, queries_path, qrels_path):
        if not need.is_file():
            raise AtlasError(f"{need} not found: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/{split}.tsv")

    corpus = []
    for lineno, obj in read_jsonl(corpus_path):
        where = f"{corpus_path}:{lineno}"
        corpus.append(
            {
                "_id": text_field(obj, "_id", where),
                "title": text_field(obj, "title", where, required=False),
                "text": text_field(obj, "text", where, required=False),
            }
        )

    relevant: dict[str, dict[str, None]] = {}
    with qrels_path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, 1):
            cols = line.rstrip("\n").split("\t")
            if not line.strip() or (lineno == 1 and cols[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            if len(cols) < 3:
                raise AtlasError(f"{qrels_path}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>score', got {line!r}")
            try:
                score = float(cols[2])
            except ValueError:
                raise AtlasError(f"{qrels_path}:{lineno}: score {cols[2]!r} is not a number") from None
            if score > 0:
                relevant.setdefault(cols[0].strip(), {})[cols[1].strip()] = None

    questions = []
    for lineno, obj in read_jsonl(queries_path):
        where = f"{queries_path}:{lineno}"
        qid = text_field(obj, "_id", where)
        if qid in relevant:
            questions.append(Question(qid, text_field(obj, "text", where), tuple(relevant.pop(qid))))
    return corpus, questions


def _yaml_quote(value: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML) that PyYAML reads back unchanged."""
    quoted = json.dumps(value, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _safe_name(page_id: str) -> str:
    name = _UNSAFE_NAME.sub("_", page_id).strip("._")[:100]
    if name != page_id:
        # Different ids must not collide once sanitised, so the altered ones carry a hash of the original.
        name = f"{name or 'doc'}-{hashlib.sha1(page_id.encode()).hexdigest()[:10]}"
    return name


def write_beir_corpus(records: Iterable[dict[str, str]], folder: Path) -> Path:
    """Write each BEIR corpus record as `<folder>/<safe _id>.md` whose front matter gives title and page_id = _id.

    Returns:
        The folder, ready for `load_corpus([folder])`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for rec in records:
        page_id = str(rec["_id"])
        head = [f"page_id: {_yaml_quote(page_id)}"]
        if rec.get("title"):
            head.insert(0, f"title: {_yaml_quote(rec['title'])}")
        body = rec.get("text") or ""
        page = "---\n" + "\n".join(head) + "\n---\n\n" + body.rstrip("\n") + "\n"
        (folder / f"{_safe_name(page_id)}.md").write_text(page, encoding="utf-8")
    return folder


@dataclass(frozen=True)
class BookSet:
    """One book's question set for a multi-book evaluation: the questions, the pages they are about, and optionally
    the index of those pages (else the evaluation derives one)."""

    book: str
    questions: Path
    pages: Path | None
    index_dir: Path | None = None


def parse_book_set(spec: str) -> BookSet:
    """`BOOK=QUESTIONS.jsonl:PAGES` (the `--set` flag) as a BookSet; the last ':' splits questions from pages.

    Raises:
        AtlasError: when the spec lacks the '=' or the ':'.
    """
    book, eq, rest = spec.partition("=")
    questions, colon, pages = rest.rpartition(":")
    if not eq or not colon or not book.strip() or not questions or not pages:
        raise AtlasError(f"--set {spec!r}: expected BOOK=QUESTIONS.jsonl:PAGES (e.g. sociology=q.jsonl:pages/)")
    return BookSet(book.strip(), Path(questions), Path(pages))


def load_manifest(path: Path) -> list[BookSet]:
    """A manifest (JSON or YAML) listing question sets: a list, or {"sets": [...]}, of
    {"book", "questions", "pages", "index_dir"?}; relative paths are relative to the manifest's folder.

    Raises:
        AtlasError: naming the manifest and the entry that is malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise AtlasError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        import yaml  # JSON is YAML too

        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AtlasError(f"{path}: not valid JSON or YAML ({str(exc).splitlines()[0]})") from None
    entries = data.get("sets") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise AtlasError(f"{path}: expected a list of sets (or {{'sets': [...]}}), each with book, questions, pages")
    base = Path(path).parent
    out: list[BookSet] = []
    for i, entry in enumerate(entries, 1):
        where = f"{path}: set {i}"
        if not isinstance(entry, dict):
            raise AtlasError(f"{where}: expected an object with book, questions, pages")
        book, questions, pages = (text_field(entry, key, where) for key in ("book", "questions", "pages"))
        index_dir = text_field(entry, "index_dir", where, required=False)
        out.append(BookSet(book, base / questions, base / pages, base / index_dir if index_dir else None))
    return check_books(out)


def check_books(sets: list[BookSet]) -> list[BookSet]:
    """`sets` if every book name is used once, else an AtlasError naming the repeated one."""
    seen: set[str] = set()
    for s in sets:
        if s.book in seen:
            raise AtlasError(f"book {s.book!r} is listed twice: give each question set its own name")
        seen.add(s.book)
    return sets
