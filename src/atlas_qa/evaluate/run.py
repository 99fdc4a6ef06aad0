"""The evaluation commands (`atlas-qa eval`, `eval-attribution`, `eval-answers`): build the index to evaluate, run
the metrics, print the report. The CLI parses the arguments and calls these."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import answers as ea
from .datasets import load_beir, load_claims, load_questions, write_beir_corpus
from .metrics import evaluate, evaluate_attribution, refusal_rates
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


def answers(args: Any, settings: Any) -> int:
    """`atlas-qa eval-answers`: the answers beside the best passage shown whole."""
    questions = ea.load_answer_questions(args.questions)
    atlas = eval_atlas(args, settings, args.corpus)

    def answer(q: str) -> ea.Shown:
        a = atlas.ask(q)
        return ea.Shown(a.answer, a.refused)

    def top_passage(q: str) -> ea.Shown:
        passages = atlas.search(q).passages
        return ea.Shown(passages[0].chunk.text if passages else "", not passages)

    atlas.ask(questions[0].question)  # warm-up, not timed
    result = ea.evaluate_answers(questions, answer, top_passage, misses=args.misses)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "misses"}, indent=2))
    else:
        print(ea.format_answer_table(result))
        for m in result["misses"]:
            print(f"\nmiss {m['id']}: {m['question']}\n  expected: {m['expected']}\n  shown:    {m['shown']}")
    return 0
