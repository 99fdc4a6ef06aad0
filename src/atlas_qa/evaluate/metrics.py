"""Evaluation metrics: page-level recall, MRR and nDCG of a retriever, attribution accuracy, refusal rates, and the
paired bootstrap that compares two runs.

`evaluate` takes recall@k, MRR@k and nDCG@k from ir-measures (over pytrec_eval, i.e. trec_eval's definitions), so
evaluators can reproduce them from the TREC run file `atlas-qa eval --run-out` writes; `recall_at`, `mrr_at` and
`ndcg_at` are the same definitions in plain Python for one ranking (the tests hold the two to each other).
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import AtlasError
from .datasets import Claim, Question


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
    rankings: dict[str, list[str]] = field(default_factory=dict)  # question id -> distinct page ids, best first


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
    rankings: dict[str, list[str]] = {}
    latencies: list[float] = []
    misses: list[dict[str, Any]] = []
    for q in questions:
        if q.id in rankings:
            raise AtlasError(f"question id {q.id!r} is used twice: each question needs its own id")
        start = time.perf_counter()
        ranked = list(search(q.question))
        latencies.append((time.perf_counter() - start) * 1000)
        rankings[q.id] = _top(ranked, len(ranked))
        if not ranked or ranked[0] not in q.gold_pages:
            rank = next((i for i, page in enumerate(rankings[q.id], 1) if page in q.gold_pages), None)
            first = ranked[0] if ranked else None
            misses.append({"id": q.id, "question": q.question, "gold": q.gold_page, "first": first, "rank": rank})

    curve_keys = [f"recall@{k}" for k in range(1, top + 1)]
    keys = [*(f"recall@{k}" for k in ks), f"mrr@{top}", f"ndcg@{top}"]
    scored = standard_metrics(rankings, {q.id: q.gold_pages for q in questions}, keys + curve_keys)
    rows = [{key: scored[q.id][key] for key in keys} for q in questions]
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
        curve={
            k: round(sum(scored[q.id][f"recall@{k}"] for q in questions) / len(questions), 4) for k in range(1, top + 1)
        },
        rankings=rankings,
    )


_MEASURES = {"recall": "R", "mrr": "RR", "ndcg": "nDCG"}  # our metric names -> ir-measures' names


def standard_metrics(
    rankings: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]], keys: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per question id, the metrics named in `keys` ("recall@5", "mrr@10", "ndcg@10") by ir-measures (pytrec_eval),
    with binary relevance (gold pages) and the rankings' order; a question whose ranking is empty scores 0.

    Raises:
        AtlasError: when ir-measures is not installed (it is the `eval` extra).
    """
    try:
        import ir_measures
    except ImportError:
        raise AtlasError("retrieval metrics need ir-measures: pip install 'atlas-qa[eval]' (or ir-measures)") from None
    measures = {}
    for key in dict.fromkeys(keys):
        name, _, k = key.partition("@")
        measures[key] = ir_measures.parse_measure(f"{_MEASURES[name]}@{int(k)}")
    qrels = [ir_measures.Qrel(qid, page, 1) for qid, pages in gold.items() for page in dict.fromkeys(pages)]
    run = [  # scores from ranks, so trec_eval's tie-breaking (by page id) cannot reorder a ranking
        ir_measures.ScoredDoc(qid, page, float(len(pages) - i))
        for qid, pages in rankings.items()
        for i, page in enumerate(pages)
    ]
    by_name = {str(m): key for key, m in measures.items()}
    out = {qid: dict.fromkeys(measures, 0.0) for qid in gold}
    for metric in ir_measures.iter_calc(list(measures.values()), qrels, run):
        out[metric.query_id][by_name[str(metric.measure)]] = float(metric.value)
    return out


def write_trec_run(path: Path, rankings: Mapping[str, Sequence[str]], tag: str) -> Path:
    """A TREC run file: `qid Q0 page rank score tag` per line, scores decreasing with rank (rank-derived)."""
    lines = [
        f"{qid} Q0 {page} {i} {len(pages) - i + 1} {tag}"
        for qid, pages in rankings.items()
        for i, page in enumerate(pages, 1)
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return Path(path)


def write_trec_qrels(path: Path, questions: Sequence[Question]) -> Path:
    """The questions' gold pages as TREC qrels (`qid 0 page 1`), to score a run file with trec_eval or ir-measures."""
    lines = [f"{q.id} 0 {page} 1" for q in questions for page in dict.fromkeys(q.gold_pages)]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return Path(path)


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


BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Difference:
    """B - A of a statistic, with the ends of its paired-bootstrap interval (None when no pair has the metric)."""

    diff: float | None
    low: float | None
    high: float | None


def paired_bootstrap(
    groups: Sequence[tuple[Sequence[float | None], Sequence[float | None]]],
    statistic: Literal["mean", "median"] = "mean",
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> Difference:
    """The difference B - A of `statistic`, averaged over groups (books), with a percentile bootstrap interval.

    Each group is (A's values, B's values) for the same questions in the same order; None marks a question the
    metric does not apply to (left out of that side's statistic). A resample draws each group's questions with
    replacement, keeping a question's A and B together, so the interval reflects the paired difference.

    Args:
        statistic: "mean" or "median" of each side's values.
    """
    import numpy as np  # not at import: the CLI and the bench harness import this module

    reduce: Callable[..., Any] = np.nanmedian if statistic == "median" else np.nanmean
    pairs = []
    for a, b in groups:
        if len(a) != len(b):
            raise AtlasError(f"paired runs differ in length ({len(a)} vs {len(b)} questions)")
        xa = np.array([np.nan if v is None else float(v) for v in a], dtype=np.float64)
        xb = np.array([np.nan if v is None else float(v) for v in b], dtype=np.float64)
        if len(xa) and not (np.isnan(xa).all() or np.isnan(xb).all()):
            pairs.append((xa, xb))
    if not pairs:
        return Difference(None, None, None)
    rng = np.random.default_rng(seed)
    observed, draws = [], []
    with warnings.catch_warnings():  # a resample may hold only questions without the metric: NaN, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        for xa, xb in pairs:
            observed.append(reduce(xb, axis=-1) - reduce(xa, axis=-1))
            idx = rng.integers(0, len(xa), size=(resamples, len(xa)))
            draws.append(reduce(xb[idx], axis=-1) - reduce(xa[idx], axis=-1))
        spread = np.nanmean(np.vstack(draws), axis=0)
    spread = spread[~np.isnan(spread)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail]) if spread.size else (np.nan, np.nan)
    return Difference(*(round(float(v), 4) for v in (np.mean(observed), low, high)))
