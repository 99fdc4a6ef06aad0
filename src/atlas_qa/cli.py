"""`atlas-qa` command line: thin over `atlas_qa.core`; imports nothing heavy until a command runs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .config import BACKENDS
from .errors import AtlasError
from .types import answer_json


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, help="index folder (default: $ATLAS_QA_INDEX_DIR or embeddings/)")
    common.add_argument("--model", help="embedding model (default: the packaged all-MiniLM-L6-v2)")
    common.add_argument("--backend", choices=BACKENDS, help="how the model runs (default: onnx-int8)")
    common.add_argument("--course", help="the course's index (default: $ATLAS_QA_COURSE or 'default')")
    common.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 ($ATLAS_QA_CHROMA_URL)")

    parser = argparse.ArgumentParser(
        prog="atlas-qa", description="Questions answered from course material, with sources."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="index course files (incremental)")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: corpus/)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--strict", action="store_true", help="exit with an error if any file was skipped")
    p.add_argument("--rebuild", action="store_true", help="build the course's index anew (replaces it when complete)")

    p = sub.add_parser("index", parents=[common], help="check, export or import an index")
    p.add_argument("action", choices=["check", "export", "import"])
    p.add_argument("file", type=Path, nargs="?", help="the archive (.tar.gz) to write or read")
    p.add_argument("--force", action="store_true", help="import over an existing index")

    p = sub.add_parser("ask", parents=[common], help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="passages to cite (default 5)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("chat", parents=[common], help="a conversation: questions one per line, follow-ups work")
    p.add_argument("--k", type=int, help="passages to cite (default 5)")
    p.add_argument("--json", action="store_true", help="print each answer as one line of JSON")

    p = sub.add_parser("eval", parents=[common], help="retrieval metrics on a question set")
    p.add_argument("questions", type=Path, nargs="?", help="JSONL of {id, question, gold_page, kind?}")
    p.add_argument("--corpus", type=Path, help="index this corpus into its own index folder first")
    p.add_argument(
        "--beir", type=Path, metavar="DIR", help="a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/)"
    )
    p.add_argument("--retriever", default="hybrid", help="hybrid, rrf, dense, bm25 or all (default hybrid)")
    p.add_argument("--k", type=int, default=10, help="deepest cut-off (default 10)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write recall@k curves to this PNG")
    p.add_argument("--misses", type=int, default=0, metavar="N", help="list the first N misses per retriever")
    p.add_argument("--out-of-scope", type=Path, metavar="JSONL", help="also report refusal rates with these questions")

    p = sub.add_parser("eval-attribution", parents=[common], help="which work supports each claim: accuracy@1/@3")
    p.add_argument("claims", type=Path, help="JSONL of {id, claim, gold_page, reference}")
    p.add_argument("--corpus", type=Path, help="index this corpus into its own index folder first")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--misses", type=int, default=0, metavar="N", help="list the first N misses")

    p = sub.add_parser("eval-answers", parents=[common], help="answer quality vs the best passage shown whole")
    p.add_argument("questions", type=Path, help="JSONL of {id, question, expected?, evidence?, kind?}")
    p.add_argument("--corpus", type=Path, help="index this corpus into its own index folder first")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--misses", type=int, default=0, metavar="N", help="list the first N answers that miss")

    p = sub.add_parser("bench", parents=[common], help="measure speed and memory against the raw libraries")
    from .bench import add_arguments as bench_arguments  # argparse wiring only: bench imports nothing heavy

    bench_arguments(p)

    p = sub.add_parser("serve", parents=[common], help="run the chat app")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--no-ingest", action="store_true", help="do not index the corpus before serving")

    p = sub.add_parser("log", parents=[common], help="the question log: export or purge records (data requests)")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("--before", help="only records before this date (YYYY-MM-DD)")
    p.add_argument("--student", help="only this student's records: their pseudonym or user name")

    where = argparse.ArgumentParser(
        add_help=False
    )  # the accounts file: $ATLAS_QA_USERS_DB or <index dir>/users.sqlite3
    where.add_argument("--index-dir", type=Path, help="index folder (default: $ATLAS_QA_INDEX_DIR or embeddings/)")
    p = sub.add_parser("users", help="manage accounts: add, list, remove, token")
    users = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    u = users.add_parser("add", parents=[where], help="add a user (or change their role, courses and password)")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=["student", "instructor", "admin"])
    u.add_argument("--course", action="append", default=[], help="a course the user belongs to (repeatable)")
    u.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    u = users.add_parser("list", parents=[where], help="list the users")
    u.add_argument("--json", action="store_true", help="print them as JSON")
    users.add_parser("remove", parents=[where], help="remove a user, their tokens and sessions").add_argument("name")
    users.add_parser("token", parents=[where], help="print a new API token (replaces the old one)").add_argument("name")
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from .config import Settings

    return Settings.from_env(
        index_dir=args.index_dir,
        model=getattr(args, "model", None),
        backend=getattr(args, "backend", None),
        course=getattr(args, "course", None) if args.command != "users" else None,
        chroma_url=getattr(args, "chroma_url", None),
        k=getattr(args, "k", None) if args.command in ("ask", "chat") else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def _print_ingest(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return
    if report.embedded == 0 and not (report.removed or report.added or report.updated):
        print(f"Index up to date: {report.unchanged} pages unchanged, nothing embedded ({report.chunks} chunks).")
    else:
        print(
            f"Indexed: {report.added} added, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged; {report.embedded} chunks embedded, {report.chunks} in the index."
        )
    if len(report.by_format) > 1 or report.skipped:
        print(
            "By format: "
            + ", ".join(f"{k} {v['loaded']} loaded, {v['skipped']} skipped" for k, v in report.by_format.items())
        )
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)


def _print_answer(answer: Any) -> None:
    if answer.searched and answer.searched != answer.question:
        print(f"Searched: {answer.searched}\n")
    print(answer.answer)
    if answer.refused and answer.closest_pages:
        print("\nClosest pages: " + ", ".join(answer.closest_pages))
    for c in answer.citations:
        who = f" — {c.chain or c.speaker}" if (c.chain or c.speaker) else ""
        print(f"\n[{c.n}] {c.title}" + (f" › {c.section}" if c.section else "") + f" ({c.page_id}){who}")
        print("    " + " ".join(c.text.split())[:400])
        for cite in c.cites:
            print(f"    cites {cite.label}: {cite.reference or '(not in the page references)'}")


def _chat(args: argparse.Namespace, atlas: Any) -> int:
    """Questions from stdin, one per line, each asked with the conversation so far; `exit`, `quit` or EOF ends."""
    from .conversation import Turn
    from .errors import QuestionError

    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask a question about the course (follow-ups work); `exit` or Ctrl-D ends.")
    history: list[Turn] = []
    while True:
        if interactive:
            print("\n> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or line.strip().lower() in ("exit", "quit"):
            return 0
        if not line.strip():
            continue
        try:
            answer = atlas.ask(line, k=args.k, history=history)
        except QuestionError as exc:  # a bad question ends its turn, not the session
            print(f"atlas-qa: {exc}", file=sys.stderr)
            continue
        history.append(Turn(line.strip(), answer))
        if args.json:
            print(json.dumps(answer_json(answer), ensure_ascii=False), flush=True)
        else:
            _print_answer(answer)
            print("\n" + "-" * 40, flush=True)


def _eval(args: argparse.Namespace, settings: Any) -> int:
    from . import evaluate
    from .errors import ConfigError
    from .retrieve import METHODS

    if bool(args.questions) == bool(args.beir):
        raise ConfigError("Give a questions file or --beir DIR (one of the two).")
    corpus = args.corpus
    if args.beir:
        records, questions = evaluate.load_beir(args.beir)
        corpus = evaluate.write_beir_corpus(records, evaluate.eval_index_dir(settings, args.beir) / "pages")
    else:
        questions = evaluate.load_questions(args.questions)
    atlas = _eval_atlas(args, settings.with_(fetch_k=max(settings.fetch_k, args.k)), corpus)
    names = list(METHODS) if args.retriever == "all" else [args.retriever]
    if any(n not in METHODS for n in names):
        raise ConfigError(f"Unknown retriever {args.retriever!r}: choose one of {', '.join(METHODS)} or all.")
    ks = tuple(sorted({1, 5, args.k} & set(range(1, args.k + 1)))) or (args.k,)
    reports = []
    for name in reversed(names):  # the reference recipes first, ours last

        def search(q: str, name: str = name) -> list[str]:
            return [page for page, _ in atlas.search(q, k=args.k, method=name).pages[: args.k]]

        atlas.search(questions[0].question, method=name)  # warm-up, not timed
        reports.append(evaluate.evaluate(search, questions, ks=ks, retriever_name=name))
    if args.plot:
        evaluate.plot_recall(reports, args.plot)
    out = evaluate.report_json(reports)
    if args.out_of_scope:
        outside = [q.question for q in evaluate.load_questions(args.out_of_scope, require_gold=False)]
        out["refusal"] = evaluate.refusal_rates(
            lambda q: atlas.ask(q).refused, [q.question for q in questions], outside
        )
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(evaluate.format_table(reports))
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


def _index(args: argparse.Namespace, atlas: Any) -> int:
    from . import backup
    from .errors import ConfigError

    if args.action == "check":
        result = atlas.index.check()
        print(json.dumps(result))
        return 0 if result["ok"] else 4
    if args.file is None:
        raise ConfigError(f"`atlas-qa index {args.action}` needs an archive file name.")
    if args.action == "export":
        n = backup.export_index(atlas.index, args.file)
        print(f"Exported {n} pages to {args.file}.")
    else:
        n = backup.import_index(atlas.index, args.file, force=args.force)
        print(f"Imported {n} pages from {args.file}.")
    return 0


def _eval_atlas(args: argparse.Namespace, settings: Any, corpus: Path | None) -> Any:
    """The Atlas to evaluate: with a corpus, its own index (never the default one), synced first."""
    from . import evaluate
    from .core import Atlas

    if corpus is not None and args.index_dir is None:
        settings = settings.with_(index_dir=evaluate.eval_index_dir(settings, corpus))
    atlas = Atlas(settings)
    if corpus is not None:
        report = atlas.ingest([corpus], progress=True)
        print(f"Index {settings.index_dir}: {report.chunks} chunks ({report.embedded} embedded now).", file=sys.stderr)
    return atlas


def _eval_attribution(args: argparse.Namespace, settings: Any) -> int:
    from . import evaluate

    claims = evaluate.load_claims(args.claims)
    atlas = _eval_atlas(args, settings, args.corpus)
    result = evaluate.evaluate_attribution(atlas.attribute, claims)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "misses"}, indent=2))
    else:
        print(f"n = {result['n']} claims: accuracy@1 {result['accuracy@1']:.4f}, accuracy@3 {result['accuracy@3']:.4f}")
        for miss in result["misses"][: args.misses]:
            print(f"miss {miss['id']}: {miss['claim']}\n  gold:  {miss['gold']}\n  first: {miss['first']}")
    return 0


def _eval_answers(args: argparse.Namespace, settings: Any) -> int:
    from . import evaluate_answers as ea

    questions = ea.load_answer_questions(args.questions)
    atlas = _eval_atlas(args, settings, args.corpus)

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


def _users(args: argparse.Namespace, settings: Any) -> int:
    from .users import UserStore

    store = UserStore(settings.users_db)
    if args.action == "add":
        password = sys.stdin.readline().rstrip("\r\n")
        user = store.add(args.name, args.role, args.course, password)
        print(f"{user.name}: {user.role}" + (f" in {', '.join(user.courses)}" if user.courses else ""))
    elif args.action == "list":
        found = store.list()
        if args.json:
            print(json.dumps([{"name": u.name, "role": u.role, "courses": list(u.courses)} for u in found], indent=2))
        for u in [] if args.json else found:
            print(f"{u.name}\t{u.role}\t{','.join(u.courses)}")
    elif args.action == "remove":
        store.remove(args.name)
        print(f"removed {args.name}")
    elif args.action == "token":
        print(store.new_token(args.name))
    return 0


def _log(args: argparse.Namespace, settings: Any) -> int:
    from .embedding import embedder_for
    from .insight import QuestionLog, requests

    log = QuestionLog(settings, lambda texts: embedder_for(settings).embed_batch(texts))  # model: only to import
    if args.action == "export":
        print(
            json.dumps(requests.export(log, settings.course, args.before, args.student), ensure_ascii=False, indent=2)
        )
    else:
        n = requests.purge(log, settings.course, args.before, args.student)
        print(f"deleted {n} question{'s' * (n != 1)} from the log of {settings.course}")
    return 0


def _show_notices() -> None:
    """atlas-qa's own notices (e.g. the one-time model export) as one line each on stderr."""
    logger = logging.getLogger("atlas_qa")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("atlas-qa: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _show_notices()
    try:
        settings = _settings(args)
        if args.command == "serve":
            from .ui import serve

            serve(settings, ingest=not args.no_ingest)
            return 0
        if args.command == "users":
            return _users(args, settings)
        if args.command == "log":
            return _log(args, settings)
        from .core import Atlas

        atlas = Atlas(settings)
        if args.command == "index":
            return _index(args, atlas)
        if args.command == "ingest":
            report = atlas.ingest(
                args.paths or None, progress=sys.stderr.isatty() or not args.json, rebuild=args.rebuild
            )
            _print_ingest(report, args.json)
            return 3 if (args.strict and report.skipped) else 0
        if args.command == "bench":
            from . import bench

            return bench.cli(args, settings)
        if args.command == "eval":
            return _eval(args, settings)
        if args.command == "eval-answers":
            return _eval_answers(args, settings)
        if args.command == "eval-attribution":
            return _eval_attribution(args, settings)
        if args.command == "chat":
            return _chat(args, atlas)
        if args.command == "ask":
            answer = atlas.ask(args.question, k=args.k)
            if args.json:
                print(json.dumps(answer_json(answer, settings.corpus), ensure_ascii=False, indent=2))
            else:
                _print_answer(answer)
            return 0
    except AtlasError as exc:
        print(f"atlas-qa: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atlas-qa: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
