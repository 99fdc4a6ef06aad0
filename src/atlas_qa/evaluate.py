"""Retrieval evaluation: question sets (ours or BEIR), page-level metrics, reports, tables and recall plots."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AtlasError

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


@dataclass
class RetrieverReport:
    """One retriever's results over a question set; metric values are plain floats rounded to 4 decimals."""

    name: str
    n: int
    metrics: dict[str, float]
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    kind_n: dict[str, int] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    curve: dict[int, float] = field(default_factory=dict)


def eval_index_dir(settings: Any, corpus: Path) -> Path:
    """A corpus's own evaluation index, beside (never inside) the default one: `<index_dir>-eval/<name>-<hash>`."""
    resolved = Path(corpus).resolve()
    from .embedding import resolve_backend

    backend = resolve_backend(settings.backend, settings.device)  # int8 and fp32 vectors never share an index
    digest = hashlib.sha256(f"{resolved}|{settings.model}|{backend}".encode()).hexdigest()[:8]
    base = Path(settings.index_dir)
    return base.parent / f"{base.name}-eval" / f"{resolved.name}-{digest}"


# ---------------------------------------------------------------------------------------------------------- reading


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


# ---------------------------------------------------------------------------------------------------------- metrics


def _top(ranked: Sequence[str], k: int) -> list[str]:
    """The first k distinct page ids (a page retrieved twice, e.g. via two chunks, counts once)."""
    return list(dict.fromkeys(ranked))[:k]


def recall_at(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Fraction of gold pages in the top k: the hit rate (0 or 1) when there is one gold page."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    return len(wanted.intersection(_top(ranked, k))) / len(wanted)


def mrr_at(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Reciprocal rank of the first gold page in the top k, 0 if none."""
    wanted = set(gold)
    return next((1.0 / rank for rank, page in enumerate(_top(ranked, k), 1) if page in wanted), 0.0)


def ndcg_at(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """nDCG@k with binary relevance and a log2(rank + 1) discount; the ideal ranks min(|gold|, k) gold pages first."""
    wanted = set(gold)
    if not wanted:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, page in enumerate(_top(ranked, k), 1) if page in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(sum(r[key] for r in rows) / len(rows), 4) for key in rows[0]}


def evaluate(
    search: Callable[[str], Sequence[str]],
    questions: Sequence[Question],
    ks: Sequence[int] = (1, 5, 10),
    retriever_name: str = "hybrid",
) -> RetrieverReport:
    """Run `search` on every question and score the ranked page ids it returns.

    Args:
        search: question text -> page ids, best first.
        questions: the question set; each needs at least one gold page.
        ks: cut-offs for recall@k; MRR and nDCG are taken at the largest.
        retriever_name: the name the report carries.

    Returns:
        Mean metrics overall and per kind (questions without a kind count only overall), misses (first result
        not a gold page), latency percentiles and recall@k for k = 1..max(ks).
    """
    if not questions:
        raise AtlasError("no questions to evaluate")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise AtlasError(f"cut-offs must be positive integers, got {list(ks)}")
    top = ks[-1]
    rows: list[dict[str, float]] = []
    curves: list[dict[int, float]] = []
    latencies: list[float] = []
    misses: list[dict[str, Any]] = []
    for q in questions:
        start = time.perf_counter()
        ranked = list(search(q.question))
        latencies.append((time.perf_counter() - start) * 1000)
        row = {f"recall@{k}": recall_at(ranked, q.gold_pages, k) for k in ks}
        row[f"mrr@{top}"] = mrr_at(ranked, q.gold_pages, top)
        row[f"ndcg@{top}"] = ndcg_at(ranked, q.gold_pages, top)
        rows.append(row)
        curves.append({k: recall_at(ranked, q.gold_pages, k) for k in range(1, top + 1)})
        if not ranked or ranked[0] not in q.gold_pages:
            distinct = _top(ranked, len(ranked))
            rank = next((i for i, page in enumerate(distinct, 1) if page in q.gold_pages), None)
            first = ranked[0] if ranked else None
            misses.append({"id": q.id, "question": q.question, "gold": q.gold_page, "first": first, "rank": rank})

    groups: dict[str, list[dict[str, float]]] = {}
    for q, row in zip(questions, rows):
        if q.kind:
            groups.setdefault(q.kind, []).append(row)
    return RetrieverReport(
        name=retriever_name,
        n=len(questions),
        metrics=_mean(rows),
        by_kind={kind: _mean(group) for kind, group in sorted(groups.items())},
        kind_n={kind: len(group) for kind, group in sorted(groups.items())},
        misses=misses,
        p50_ms=round(percentile(latencies, 50), 3),
        p95_ms=round(percentile(latencies, 95), 3),
        curve={k: round(sum(c[k] for c in curves) / len(curves), 4) for k in range(1, top + 1)},
    )


# ---------------------------------------------------------------------------------------------------------- output


def report_json(reports: Sequence[RetrieverReport]) -> dict[str, Any]:
    """{"n": N, "retrievers": {name: {metrics..., "p50_ms", "p95_ms", "by_kind": {kind: {metrics...}}}}}."""
    return {
        "n": max((r.n for r in reports), default=0),
        "retrievers": {
            r.name: {
                **r.metrics,
                "p50_ms": r.p50_ms,
                "p95_ms": r.p95_ms,
                "by_kind": {kind: dict(m) for kind, m in r.by_kind.items()},
            }
            for r in reports
        },
    }


def _label(key: str) -> str:
    name, _, k = key.partition("@")
    return {"recall": "R", "mrr": "MRR", "ndcg": "nDCG"}.get(name, name) + "@" + k


def format_table(reports: Sequence[RetrieverReport]) -> str:
    """An aligned plain-text table, one row per retriever, then one line per retriever and question kind."""
    if not reports:
        return "(no results)"
    keys = list(reports[0].metrics)
    header = ["retriever", *(_label(k) for k in keys), "p50 ms"]
    rows = [[r.name, *(f"{r.metrics.get(k, 0.0):.4f}" for k in keys), f"{r.p50_ms:.1f}"] for r in reports]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"n = {reports[0].n} questions", line(header), line(["-" * w for w in widths]), *map(line, rows)]
    kind_lines = [
        f"  {r.name} / {kind} (n={r.kind_n.get(kind, '?')}): "
        + "  ".join(f"{_label(k)} {m.get(k, 0.0):.4f}" for k in keys)
        for r in reports
        for kind, m in r.by_kind.items()
    ]
    if kind_lines:
        out += ["", "by kind:", *kind_lines]
    return "\n".join(out)


def plot_recall(reports: Sequence[RetrieverReport], path: Path) -> Path:
    """Draw recall@k against k, one line per retriever, and save it as a PNG at `path`."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise AtlasError("plotting needs matplotlib: pip install matplotlib") from None

    # A bare Figure on the Agg canvas: no pyplot, so no global backend or GUI state is touched.
    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    top = 1
    for r in reports:
        ks = sorted(r.curve)
        ax.plot(ks, [r.curve[k] for k in ks], marker="o", label=r.name)
        top = max(top, *ks) if ks else top
    ax.set_xlabel("k (pages retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_xticks(range(1, top + 1))
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    n = reports[0].n if reports else 0
    ax.set_title(f"Recall@k ({n} questions)")
    if reports:
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------------------------------- attribution


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


def _same_reference(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"\s+", " ", s).strip().casefold()  # noqa: E731
    return norm(a) == norm(b)


def evaluate_attribution(attribute: Callable[[str], Sequence[Any]], claims: Sequence[Claim]) -> dict[str, Any]:
    """accuracy@1 / accuracy@3: the gold reference among the first 1 / 3 works `attribute(claim)` returns.

    `attribute` returns works best first, each with a `.reference` text.
    """
    hits1 = hits3 = 0
    misses = []
    for c in claims:
        refs = [w.reference for w in attribute(c.claim)]
        rank = next((i for i, r in enumerate(refs) if _same_reference(r, c.reference)), None)
        hits1 += rank == 0
        hits3 += rank is not None and rank < 3
        if rank != 0:
            misses.append({"id": c.id, "claim": c.claim, "gold": c.reference, "first": refs[0] if refs else None})
    n = len(claims)
    return {"n": n, "accuracy@1": round(hits1 / n, 4), "accuracy@3": round(hits3 / n, 4), "misses": misses}


def refusal_rates(
    refuses: Callable[[str], bool], in_scope: Sequence[str], out_of_scope: Sequence[str]
) -> dict[str, Any]:
    """Share of in-scope questions refused (should be low) and of out-of-scope ones refused (should be high)."""
    return {
        "in_scope_n": len(in_scope),
        "in_scope_refused": round(sum(map(refuses, in_scope)) / max(len(in_scope), 1), 4),
        "out_of_scope_n": len(out_of_scope),
        "out_of_scope_refused": round(sum(map(refuses, out_of_scope)) / max(len(out_of_scope), 1), 4),
    }
