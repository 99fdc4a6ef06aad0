"""The evaluation commands (`atlas-qa eval`, `eval-attribution`, `eval-answers`): build the index to evaluate, run
the metrics, print the report. The CLI parses the arguments and calls these."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError
from . import answers as ea
from .datasets import (
    BookSet,
    check_books,
    load_beir,
    load_claims,
    load_manifest,
    load_questions,
    parse_book_set,
    write_beir_corpus,
)
from .metrics import evaluate, evaluate_attribution, refusal_rates, write_trec_qrels, write_trec_run
from .report import format_table, plot_recall, report_json


def eval_index_dir(settings: Any, corpus: Path) -> Path:
    """A corpus's own evaluation index, beside (never inside) the default one: `<index_dir>-eval/<name>-<hash>`."""
    resolved = Path(corpus).resolve()
    from ..embedding import resolve_backend

    backend = resolve_backend(settings.backend, settings.device)  # int8 and fp32 vectors never share an index
    digest = hashlib.sha256(f"{resolved}|{settings.model}|{backend}".encode()).hexdigest()[:8]
    base = Path(settings.index_dir)
    return base.parent / f"{base.name}-eval" / f"{resolved.name}-{digest}"


def eval_atlas(args: Any, settings: Any, corpus: Path | None) -> Any:
    """The Atlas to evaluate: with a corpus, its own index (never the default one), synced first."""
    from ..core import Atlas

    if corpus is not None and args.index_dir is None:
        settings = settings.with_(index_dir=eval_index_dir(settings, corpus))
    atlas = Atlas(settings)
    if corpus is not None:
        report = atlas.ingest([corpus], progress=True)
        print(f"Index {settings.index_dir}:", *report.summary(), sep="\n", file=sys.stderr)
    return atlas


def retrieval(args: Any, settings: Any) -> int:
    """`atlas-qa eval`: recall, MRR and nDCG of each retriever on a question set or a BEIR folder."""
    from ..retrieve import METHODS

    if bool(args.questions) == bool(args.beir):
        raise ConfigError("Give a questions file or --beir DIR (one of the two).")
    corpus = args.corpus
    if args.beir:
        records, questions = load_beir(args.beir)
        corpus = write_beir_corpus(records, eval_index_dir(settings, args.beir) / "pages")
    else:
        questions = load_questions(args.questions)
    atlas = eval_atlas(args, settings.with_(fetch_k=max(settings.fetch_k, args.k)), corpus)
    names = list(METHODS) if args.retriever == "all" else [args.retriever]
    if any(n not in METHODS for n in names):
        raise ConfigError(f"Unknown retriever {args.retriever!r}: choose one of {', '.join(METHODS)} or all.")
    ks = tuple(sorted({1, 5, args.k} & set(range(1, args.k + 1)))) or (args.k,)
    reports = []
    for name in reversed(names):  # the reference recipes first, ours last

        def search(q: str, name: str = name) -> list[str]:
            return [page for page, _ in atlas.search(q, k=args.k, method=name).pages[: args.k]]

        atlas.search(questions[0].question, method=name)  # warm-up, not timed
        reports.append(evaluate(search, questions, ks=ks, retriever_name=name))
    if args.plot:
        plot_recall(reports, args.plot)
    if args.run_out:
        for path in write_runs(args.run_out, reports, questions):
            print(f"wrote {path}", file=sys.stderr)
    out = report_json(reports)
    if args.out_of_scope:
        outside = [q.question for q in load_questions(args.out_of_scope, require_gold=False)]
        out["refusal"] = refusal_rates(lambda q: atlas.ask(q).refused, [q.question for q in questions], outside)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(format_table(reports))
        if "refusal" in out:
            r = out["refusal"]
            print(
                f"\nrefused: {r['in_scope_refused']:.1%} of {r['in_scope_n']} in-scope questions, "
                f"{r['out_of_scope_refused']:.1%} of {r['out_of_scope_n']} out-of-scope ones"
            )
        for r in reports:
            for miss in r.misses[: args.misses]:
                print(f"miss [{r.name}] {miss['id']}: gold {miss['gold']}, first {miss['first']}: {miss['question']}")
    return 0


def write_runs(path: Path, reports: list[Any], questions: list[Any]) -> list[Path]:
    """TREC run files of the reports at `path` (one retriever) or `<stem>.<retriever><suffix>` (several), and the
    questions' qrels at `<stem>.qrels`, so trec_eval or ir-measures can score them."""
    path = Path(path)
    named = [(path if len(reports) == 1 else path.with_name(f"{path.stem}.{r.name}{path.suffix}"), r) for r in reports]
    written = [write_trec_run(p, r.rankings, f"atlas-qa-{r.name}") for p, r in named]
    return [*written, write_trec_qrels(path.with_name(f"{path.stem}.qrels"), questions)]


def attribution(args: Any, settings: Any) -> int:
    """`atlas-qa eval-attribution`: accuracy@1/@3 of the work each claim is attributed to."""
    claims = load_claims(args.claims)
    atlas = eval_atlas(args, settings, args.corpus)
    result = evaluate_attribution(atlas.attribute, claims)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "misses"}, indent=2))
    else:
        print(f"n = {result['n']} claims: accuracy@1 {result['accuracy@1']:.4f}, accuracy@3 {result['accuracy@3']:.4f}")
        for miss in result["misses"][: args.misses]:
            print(f"miss {miss['id']}: {miss['claim']}\n  gold:  {miss['gold']}\n  first: {miss['first']}")
    return 0


def compare_settings(settings: Any, spec: str) -> tuple[str, dict[str, Any]]:
    """`KEY=VALUE` (`--compare`): the setting and its value converted as its `ATLAS_QA_<KEY>` would be, checked
    against `settings`.

    Returns:
        ("key=value", {key: value}) to apply with `settings.with_`.
    """
    from dataclasses import fields

    from ..config import Settings

    key, eq, raw = spec.partition("=")
    key = key.strip().replace("-", "_")
    names = [f.name for f in fields(Settings)]
    if not eq or key not in names:
        raise ConfigError(f"--compare {spec!r}: expected KEY=VALUE with KEY one of the settings: {', '.join(names)}.")
    changes = {key: getattr(Settings.from_env({f"ATLAS_QA_{key.upper()}": raw}), key)}
    settings.with_(**changes).validate()
    return f"{key}={raw}", changes


def _book_sets(args: Any) -> list[BookSet]:
    """The question sets to evaluate: the positional one, `--set`s, or a manifest's (one of the three)."""
    given = [bool(args.questions), bool(args.set), bool(args.manifest)]
    if sum(given) != 1:
        raise ConfigError("Give one question set, --set BOOK=QUESTIONS.jsonl:PAGES (repeatable) or --manifest FILE.")
    if args.questions:
        return [BookSet(args.questions.stem, args.questions, args.corpus, args.index_dir)]
    sets = load_manifest(args.manifest) if args.manifest else check_books([parse_book_set(s) for s in args.set])
    if args.index_dir is not None:  # a folder of per-book indexes: DIR/<book>
        sets = [s if s.index_dir else replace(s, index_dir=args.index_dir / s.book) for s in sets]
    return sets


def book_index(settings: Any, index_dir: Path) -> Any:
    """`settings` reading the book's index at `index_dir`; the exported model stays in that index's own folder
    unless `cache_dir` was set to somewhere else (nothing is written beside the books' indexes)."""
    own_cache = Path(settings.cache_dir) == Path(settings.index_dir) / "models"
    return settings.with_(index_dir=index_dir, **({"cache_dir": Path(index_dir) / "models"} if own_cache else {}))


def _answer_run(atlas: Any, questions: list[ea.AnswerQuestion], misses: int) -> dict[str, Any]:
    def answer(q: str) -> ea.Shown:
        a = atlas.ask(q)
        return ea.Shown(a.answer, a.refused)

    def top_passage(q: str) -> ea.Shown:
        passages = atlas.search(q).passages
        return ea.Shown(passages[0].chunk.text if passages else "", not passages)

    atlas.ask(questions[0].question)  # warm-up, not timed
    return ea.evaluate_answers(questions, answer, top_passage, misses=misses)


def answers(args: Any, settings: Any) -> int:
    """`atlas-qa eval-answers`: the answers beside the best passage shown whole, on one question set or several
    (a table per book and the mean); with `--compare KEY=VALUE` also under changed settings, paired."""
    from ..core import Atlas

    sets = _book_sets(args)
    label, changes = compare_settings(settings, args.compare) if args.compare else ("", None)
    base_runs: dict[str, dict[str, Any]] = {}
    other_runs: dict[str, dict[str, Any]] = {}
    for s in sets:
        questions = ea.load_answer_questions(s.questions)
        index_args = SimpleNamespace(index_dir=s.index_dir)
        book_settings = book_index(settings, s.index_dir) if s.index_dir else settings
        atlas = eval_atlas(index_args, book_settings, s.pages)
        base_runs[s.book] = _answer_run(atlas, questions, args.misses)
        if changes is not None:  # the same index, read under the other settings
            changed = atlas.settings.with_(**changes)
            other_runs[s.book] = _answer_run(Atlas(changed, embedder=atlas.embedder), questions, 0)
    single = args.questions is not None
    diffs = ea.compare_results(base_runs, other_runs) if changes is not None else None
    if args.json:
        out = ea.result_json(base_runs[sets[0].book]) if single else ea.books_json(base_runs)
        if diffs is not None:
            out["compare"] = {"setting": label, **ea.comparison_json(diffs)}
        print(json.dumps(out, indent=2))
        return 0
    print(ea.format_answer_table(base_runs[sets[0].book]) if single else ea.format_books_table(base_runs))
    if diffs is not None:
        print(
            "\n" + ea.format_comparison(diffs if not single else {k: v for k, v in diffs.items() if k != "mean"}, label)
        )
    for book, result in base_runs.items():
        for m in result["misses"]:
            where = "" if single else f" [{book}]"
            print(f"\nmiss{where} {m['id']}: {m['question']}\n  expected: {m['expected']}\n  shown:    {m['shown']}")
    return 0
