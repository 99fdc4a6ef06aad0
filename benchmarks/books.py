"""Retrieval and refusal across the six books: does each hand-set rule hold on every book, not only on polisci?

Two steps. `measure` reads each book's index (built beforehand with `atlas-qa ingest --index-dir DIR/BOOK
../shared/corpora/openstax-BOOK/pages`; nothing is rebuilt) and, per question of the book's question sets and of
tests/data/out_of_scope.jsonl, records once: the top 10 pages of every retriever, `hybrid`'s page signals
(`Retriever.page_signals`), the retrieval relevance (after `ask`'s respelling) and whether `ask` would answer anyway
(a term a page defines, an author a page cites). `report` then prints, from those records alone:

- retrieval per book and question set (R@1, R@5, R@10, MRR@10, nDCG@10 by ir-measures) for hybrid, rrf, dense, bm25;
- each hybrid signal dropped in turn (which signal helps one book and hurts the others);
- hybrid with weights fitted leave-one-book-out (each book scored with weights fitted on the other five);
- refusal: the threshold chosen leave-one-book-out, each book's in-scope and out-of-scope refusal under it, the
  shipped value chosen on all six, and the curve; other relevance rules; and (`windows`) smaller courses, 5 or 20
  pages of each book indexed alone, at the shipped threshold.

    .venv/bin/python -m benchmarks.books measure --idx IDX --corpora ../shared/corpora   # ~1 min per book
    .venv/bin/python -m benchmarks.books windows --idx WIN                                       # ~1 min per book
    .venv/bin/python -m benchmarks.books report                                                   # seconds
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BOOKS = ("polisci", "sociology", "psychology", "ushistory", "philosophy", "anthropology")
SETS = ("questions", "review_questions", "student_questions")
METHODS = ("hybrid", "rrf", "dense", "bm25")
KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
CACHE = HERE / "results" / "books"
TOP = 10


def measure(idx: Path, corpora: Path, books: list[str], out: Path, limit: int | None = None) -> None:
    """Record every question's rankings, signals and relevance per book (one book's file at a time); `limit`: only
    the first questions of each set (a smoke run)."""
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas
    from atlas_qa.evaluate import load_questions
    from atlas_qa.retrieve import WEIGHTS

    assert tuple(WEIGHTS) == SIGNALS, "the saved signals' order must be WEIGHTS' order"
    out.mkdir(parents=True, exist_ok=True)
    outside = load_questions(ROOT / "tests" / "data" / "out_of_scope.jsonl", require_gold=False)
    for book in books:
        settings = Settings.from_env(index_dir=idx / book)
        atlas = Atlas(settings)
        anyway = Atlas(settings.with_(refuse_below=float("inf")), embedder=atlas.embedder)  # refused = not exempt
        view = atlas.index.snapshot()
        if not view.chunks:
            sys.exit(f"{idx / book} holds no index: build it first")
        sets = {
            name: load_questions(corpora / f"openstax-{book}" / f"{name}.jsonl")
            for name in SETS
            if (corpora / f"openstax-{book}" / f"{name}.jsonl").is_file()
        }
        sets["out_of_scope"] = outside
        sets = {name: questions[:limit] for name, questions in sets.items()}
        records: dict[str, list[dict[str, Any]]] = {}
        signals, gold = [], []
        started = time.perf_counter()
        for name, questions in sets.items():
            records[name] = []
            for q in questions:
                hits = atlas.index.dense(atlas.question_vector(q.question), settings.fetch_k, None, view)
                found = {m: atlas.retriever.search(q.question, TOP, m, dense_hits=hits, view=view) for m in METHODS}
                row = {
                    "id": q.id,
                    "kind": q.kind,
                    "gold": list(q.gold_pages),
                    "pages": {m: [p for p, _ in r.pages[:TOP]] for m, r in found.items()},
                    **_refusal_record(atlas, anyway, q.question, found["hybrid"], view),
                }
                records[name].append(row)
                if name != "out_of_scope":
                    sig = atlas.retriever.page_signals(q.question, hits, view)
                    signals.append(np.stack([sig[s] for s in SIGNALS]).astype(np.float32))
                    gold.append(np.isin(np.asarray(view.page_ids), q.gold_pages))
            print(f"{book}/{name}: {len(questions)} questions, {time.perf_counter() - started:.0f} s", flush=True)
        (out / f"{book}.json").write_text(json.dumps(records), encoding="utf-8")
        np.savez_compressed(out / f"{book}.npz", signals=np.stack(signals), gold=np.stack(gold))


def _refusal_record(atlas: Any, anyway: Any, question: str, chosen: Any, view: Any) -> dict[str, Any]:
    """The relevance `ask` would compare with its threshold (after its respelling retry), its parts, and whether
    `ask` answers anyway (`anyway` never refuses on relevance)."""
    text = question
    again = atlas.in_course_words(question, view)
    if again != question:
        other = atlas.retriever.search(again, TOP, view=view)
        chosen, text = (other, again) if other.relevance > chosen.relevance else (chosen, text)
    relevance = chosen.relevance
    return {
        "relevance": round(relevance, 5),
        # its parts, to try other combinations of them (report's "other relevance rules")
        "similarity": round(chosen.top_similarity, 5),
        "coverage": round(chosen.coverage, 5),
        "breadth": round(chosen.breadth, 5),
        "known": round(view.lexical.known_weight(text), 5),
        # Only a question that could be refused (relevance under any threshold we try) is asked.
        "exempt": relevance < 1.2 and not anyway.ask(question).refused,
    }


def windows(idx: Path, corpora: Path, books: list[str], out: Path, size: int) -> None:
    """Refusal on smaller courses: `size` pages of each book (its 11th page on, in file order) ingested alone under
    `idx/BOOK_SIZE`, in scope the book's questions whose answer page is among them, and the out-of-scope set."""
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas
    from atlas_qa.evaluate import load_questions

    outside = load_questions(ROOT / "tests" / "data" / "out_of_scope.jsonl", require_gold=False)
    (out / "windows").mkdir(parents=True, exist_ok=True)
    for book in books:
        pages = sorted((corpora / f"openstax-{book}" / "pages").glob("*.md"))[10 : 10 + size]
        settings = Settings.from_env(index_dir=idx / f"{book}_{size}")
        atlas = Atlas(settings)
        atlas.ingest(pages)
        anyway = Atlas(settings.with_(refuse_below=float("inf")), embedder=atlas.embedder)
        view = atlas.index.snapshot()
        ids = {p.stem for p in pages}
        inside = [
            q
            for name in SETS
            if (corpora / f"openstax-{book}" / f"{name}.jsonl").is_file()
            for q in load_questions(corpora / f"openstax-{book}" / f"{name}.jsonl")
            if set(q.gold_pages) & ids
        ]
        records = {
            part: [
                _refusal_record(atlas, anyway, q.question, atlas.retriever.search(q.question, TOP, view=view), view)
                for q in questions
            ]
            for part, questions in (("in_scope", inside), ("out_of_scope", outside))
        }
        records["chunks"] = len(view.chunks)  # type: ignore[assignment]
        (out / "windows" / f"{book}_{size}.json").write_text(json.dumps(records), encoding="utf-8")
        print(f"{book}, {size} pages: {len(view.chunks)} chunks, {len(inside)} questions", flush=True)


def _load(out: Path, books: list[str]) -> dict[str, Any]:
    data = {}
    for book in books:
        if (out / f"{book}.json").is_file():
            arrays = np.load(out / f"{book}.npz")
            data[book] = {"records": json.loads((out / f"{book}.json").read_text()), **arrays}
    return data


def _metrics(rows: list[dict[str, Any]], method: str) -> dict[str, float]:
    from atlas_qa.evaluate.metrics import standard_metrics

    scored = standard_metrics({r["id"]: r["pages"][method] for r in rows}, {r["id"]: r["gold"] for r in rows}, KEYS)
    return {k: round(float(np.mean([s[k] for s in scored.values()])), 4) for k in KEYS}


def _rank_metrics(signals: np.ndarray, gold: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """R@1 and MRR@10 of hybrid's page ranking under `weights` (ties broken by page order, as `hybrid` does)."""
    score = np.einsum("qsp,s->qp", signals, weights)
    best_gold = np.where(gold, score, -np.inf).max(axis=1)
    # rank of the first gold page: pages scoring higher, plus earlier pages scoring the same (stable sort).
    first_gold = np.argmax(gold & (score == best_gold[:, None]), axis=1)
    ahead = (score > best_gold[:, None]).sum(axis=1)
    ties = ((score == best_gold[:, None]) & (np.arange(score.shape[1]) < first_gold[:, None]) & ~gold).sum(axis=1)
    rank = ahead + ties + 1
    return {"recall@1": float(np.mean(rank == 1)), "mrr@10": float(np.mean(np.where(rank <= TOP, 1.0 / rank, 0.0)))}


def _fit(train: list[tuple[np.ndarray, np.ndarray]], start: np.ndarray) -> np.ndarray:
    """Weights maximising the mean over books of (R@1 + MRR@10), by coordinate search on a multiplicative grid."""

    def objective(w: np.ndarray) -> float:
        return float(np.mean([sum(_rank_metrics(s, g, w).values()) for s, g in train]))

    best, best_score = start.copy(), objective(start)
    for _ in range(3):
        improved = False
        for i, factor in itertools.product(range(len(best)), (0.0, 0.25, 0.5, 0.75, 1.5, 2.0, 4.0)):
            trial = best.copy()
            trial[i] = best[i] * factor if best[i] else factor * 0.25
            score = objective(trial)
            if score > best_score + 1e-6:
                best, best_score, improved = trial, score, True
        if not improved:
            break
    return best


Rule = Callable[[dict[str, Any]], float]


def _today(row: dict[str, Any]) -> float:
    return row["relevance"]


def _refused(rows: list[dict[str, Any]], threshold: float, rule: Rule = _today) -> float:
    """Share of `rows` that `ask` refuses when `rule(row)` is under `threshold` (exempt questions never are)."""
    return float(np.mean([rule(r) < threshold and not r["exempt"] for r in rows])) if rows else 0.0


def _threshold(in_scope: dict[str, list[dict[str, Any]]], rule: Rule = _today, most: float = 0.01) -> float:
    """The highest threshold under which every given book refuses at most `most` of its in-scope questions: the
    lowest value such that no book refuses more (candidates: the books' own values, a step below each)."""
    values = sorted({round(rule(r), 5) for rows in in_scope.values() for r in rows})
    best = values[0]
    for t in values:
        if all(_refused(rows, t, rule) <= most for rows in in_scope.values()):
            best = t
        else:
            break
    return best


def _rules() -> dict[str, Rule]:
    """Other ways to combine the parts of the relevance (no new model): the weight of the breadth or of the coverage,
    or the idf-weighted share of the question the course knows instead of the plain share."""
    rules: dict[str, Rule] = {"similarity + 0.2 x coverage + breadth (today)": _today}
    for b in (0.5, 1.5, 2.0):
        rules[f"similarity + 0.2 x coverage + {b} x breadth"] = lambda r, b=b: (
            r["similarity"] + 0.2 * r["coverage"] + b * r["breadth"]
        )
    rules["similarity + 0.2 x coverage (before the breadth)"] = _before
    rules["similarity alone"] = lambda r: r["similarity"]
    for c in (0.1, 0.3, 0.4, 0.6):
        rules[f"similarity + {c} x coverage"] = lambda r, c=c: r["similarity"] + c * r["coverage"]
    for c in (0.2, 0.4, 0.6):
        rules[f"similarity + {c} x known weight"] = lambda r, c=c: r["similarity"] + c * r["known"]
    return rules


def _before(row: dict[str, Any]) -> float:
    """The relevance before the breadth was added (its threshold was 0.52)."""
    return row["similarity"] + 0.2 * row["coverage"]


def report(out: Path, books: list[str]) -> None:
    from atlas_qa.retrieve import WEIGHTS

    data = _load(out, books)
    books = list(data)
    print("## Retrieval per book (page-level, ir-measures)\n")
    print("| book | set | n | retriever | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 |\n|---|---|---|---|---|---|---|---|---|")
    holds = {}
    for book in books:
        everything = [r for name, rows in data[book]["records"].items() if name != "out_of_scope" for r in rows]
        for name, rows in [
            *((n, r) for n, r in data[book]["records"].items() if n != "out_of_scope"),
            ("all", everything),
        ]:
            found = {m: _metrics(rows, m) for m in METHODS}
            for m in METHODS:
                v = found[m]
                print(f"| {book} | {name} | {len(rows)} | {m} | " + " | ".join(f"{v[k]:.3f}" for k in KEYS) + " |")
            if name == "all":
                holds[book] = (
                    found["hybrid"]["recall@1"] >= found["rrf"]["recall@1"]
                    and found["hybrid"]["mrr@10"] >= found["rrf"]["mrr@10"]
                )
    print("\nhybrid >= rrf on R@1 and MRR@10 (all sets of the book):", holds)

    names = list(WEIGHTS)
    today = np.array([WEIGHTS[s] for s in names])
    print("\n## Hybrid's signals dropped one at a time: R@1 / MRR@10 (all sets of the book)\n")
    print("| weights | " + " | ".join(books) + " |\n|---|" + "---|" * len(books))
    variants = [("today", today)] + [
        (f"without {s}", np.where(np.arange(len(names)) == i, 0.0, today)) for i, s in enumerate(names)
    ]
    for label, w in variants:
        cells = [_rank_metrics(data[b]["signals"], data[b]["gold"], w) for b in books]
        print(f"| {label} | " + " | ".join(f"{c['recall@1']:.3f} / {c['mrr@10']:.3f}" for c in cells) + " |")

    if len(books) > 1:
        print("\n## Hybrid with weights fitted leave-one-book-out (R@1 / MRR@10 on the held-out book)\n")
        print("| held-out book | weights (" + ", ".join(names) + ") | today | fitted |\n|---|---|---|---|")
        for book in books:
            train = [(data[b]["signals"], data[b]["gold"]) for b in books if b != book]
            w = _fit(train, today)
            before = _rank_metrics(data[book]["signals"], data[book]["gold"], today)
            after = _rank_metrics(data[book]["signals"], data[book]["gold"], w)
            print(
                f"| {book} | {', '.join(f'{x:g}' for x in w)} | {before['recall@1']:.3f} / {before['mrr@10']:.3f}"
                f" | {after['recall@1']:.3f} / {after['mrr@10']:.3f} |"
            )
        fitted = _fit([(d["signals"], d["gold"]) for d in data.values()], today)
        print(f"\nfitted on all books: {dict(zip(names, fitted.tolist()))}")
        print("\n## Per question set: rrf, hybrid today, without agree, fitted leave-one-book-out (R@1 / MRR@10)\n")
        print("| book | set | n | rrf | hybrid today | without agree | fitted (LOBO) |\n|---|---|---|---|---|---|---|")
        no_agree = np.where(np.array(names) == "agree", 0.0, today)
        for book in books:
            w = _fit([(data[b]["signals"], data[b]["gold"]) for b in books if b != book], today)
            start = 0
            for name, rows in data[book]["records"].items():
                if name == "out_of_scope":
                    continue
                part = slice(start, start + len(rows))
                start += len(rows)
                rrf = _metrics(rows, "rrf")
                cells = [f"{rrf['recall@1']:.3f} / {rrf['mrr@10']:.3f}"]
                for weights in (today, no_agree, w):
                    m = _rank_metrics(data[book]["signals"][part], data[book]["gold"][part], weights)
                    cells.append(f"{m['recall@1']:.3f} / {m['mrr@10']:.3f}")
                print(f"| {book} | {name} | {len(rows)} | " + " | ".join(cells) + " |")

    in_scope = {b: [r for n, rows in data[b]["records"].items() if n != "out_of_scope" for r in rows] for b in books}
    outside = {b: data[b]["records"]["out_of_scope"] for b in books}
    print("\n## Refusal: threshold chosen leave-one-book-out (in scope: every question set of the book)\n")
    print("| held-out book | threshold (other books) | in scope refused | out of scope refused |\n|---|---|---|---|")
    for book in books:
        t = _threshold({b: rows for b, rows in in_scope.items() if b != book}) if len(books) > 1 else float("nan")
        print(f"| {book} | {t:.3f} | {_refused(in_scope[book], t):.1%} | {_refused(outside[book], t):.1%} |")
    print(f"\nchosen on all books: {_threshold(in_scope):.3f}")
    print("\n## The curve: refused at each threshold, per book (in scope / out of scope)\n")
    print("| threshold | " + " | ".join(books) + " |\n|---|" + "---|" * len(books))
    for t in (0.6, 0.65, 0.68, 0.7, 0.72, 0.74, 0.75, 0.76, 0.78, 0.8, 0.85, 0.9):
        cells = [f"{_refused(in_scope[b], t):.1%} / {_refused(outside[b], t):.1%}" for b in books]
        print(f"| {t:.2f} | " + " | ".join(cells) + " |")
    if "similarity" not in outside[books[0]][0]:
        return
    print("\n## Other relevance rules, each threshold chosen leave-one-book-out\n")
    print("| rule | worst book in scope | out of scope: lowest book | mean over books | all six: threshold |")
    print("|---|---|---|---|---|")
    for label, rule in _rules().items():
        held = []
        for book in books:
            t = _threshold({b: rows for b, rows in in_scope.items() if b != book}, rule)
            held.append((_refused(in_scope[book], t, rule), _refused(outside[book], t, rule)))
        print(
            f"| {label} | {max(h[0] for h in held):.1%} | {min(h[1] for h in held):.1%} | "
            f"{np.mean([h[1] for h in held]):.1%} | {_threshold(in_scope, rule):.3f} |"
        )

    _report_windows(out, books)

    print("\n## A threshold per course, from the course's own glossary terms\n")
    print("Each book's threshold: the highest under which at most 2 % of its definition questions (\"What is meant by")
    print("'X'?\", one per glossary term, which a course could generate from the terms its pages define) have a lower")
    print("relevance, exemptions ignored; scored on the book's other questions and the out-of-scope set.\n")
    print("| book | threshold | other in-scope questions refused | out of scope refused |\n|---|---|---|---|")
    for book in books:
        defs = [r for r in data[book]["records"]["questions"] if r["kind"] == "definition"]
        rest = [r for r in in_scope[book] if r["kind"] != "definition"]
        t = _threshold({book: [{**r, "exempt": False} for r in defs]}, most=0.02)
        print(f"| {book} | {t:.3f} | {_refused(rest, t):.1%} | {_refused(outside[book], t):.1%} |")


def _report_windows(out: Path, books: list[str]) -> None:
    """Smaller courses (`windows`): refused in scope / out of scope at the shipped threshold, and before the breadth
    at its own (0.52)."""
    from atlas_qa.config import Settings

    found = sorted((out / "windows").glob("*.json")) if (out / "windows").is_dir() else []
    found = [f for f in found if f.stem.rsplit("_", 1)[0] in books]
    if not found:
        return
    shipped = Settings().refuse_below
    print("\n## Smaller courses: a window of each book's pages indexed alone\n")
    print(f"| course | chunks | questions | refused in scope / out of scope ({shipped}) | before the breadth (0.52) |")
    print("|---|---|---|---|---|")
    for f in found:
        w = json.loads(f.read_text(encoding="utf-8"))
        inside, outside = w["in_scope"], w["out_of_scope"]
        print(
            f"| {f.stem.replace('_', ', ')} pages | {w['chunks']} | {len(inside)} | "
            f"{_refused(inside, shipped):.1%} / {_refused(outside, shipped):.1%} | "
            f"{_refused(inside, 0.52, _before):.1%} / {_refused(outside, 0.52, _before):.1%} |"
        )


SIGNALS = ("dense", "bm25", "agree", "fields", "defines")  # the order of the saved signal arrays (= WEIGHTS' keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["measure", "windows", "report"])
    parser.add_argument("--idx", type=Path, help="measure: a folder with one index per book (IDX/BOOK)")
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--books", nargs="+", default=list(BOOKS), choices=BOOKS)
    parser.add_argument("--out", type=Path, default=CACHE, help="where `measure` writes and `report` reads")
    parser.add_argument("--limit", type=int, help="measure: only the first N questions of each set (a smoke run)")
    parser.add_argument("--pages", type=int, nargs="+", default=[5, 20], help="windows: how many pages per course")
    args = parser.parse_args()
    if args.step == "measure":
        if args.idx is None:
            parser.error("measure needs --idx DIR (one index per book: DIR/BOOK)")
        measure(args.idx, args.corpora, args.books, args.out, args.limit)
    elif args.step == "windows":
        if args.idx is None:
            parser.error("windows needs --idx DIR (where the smaller courses' indexes are built: DIR/BOOK_PAGES)")
        for size in args.pages:
            windows(args.idx, args.corpora, args.books, args.out, size)
    else:
        report(args.out, args.books)


if __name__ == "__main__":
    main()
