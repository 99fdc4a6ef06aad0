"""`atlas-qa` command line: thin over `atlas_qa.core`; imports nothing heavy until a command runs."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .config import BACKENDS
from .errors import AtlasError
from .types import answer_json
from .users import ROLES


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
    p.add_argument(
        "--run-out",
        type=Path,
        metavar="FILE",
        help="write the rankings as a TREC run file (one per retriever with all) and the qrels beside it",
    )

    p = sub.add_parser("eval-attribution", parents=[common], help="which work supports each claim: accuracy@1/@3")
    p.add_argument("claims", type=Path, help="JSONL of {id, claim, gold_page, reference}")
    p.add_argument("--corpus", type=Path, help="index this corpus into its own index folder first")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--misses", type=int, default=0, metavar="N", help="list the first N misses")

    p = sub.add_parser("eval-answers", parents=[common], help="answer quality vs the best passage shown whole")
    p.add_argument("questions", type=Path, nargs="?", help="JSONL of {id, question, expected?, evidence?, kind?}")
    p.add_argument("--corpus", type=Path, help="index this corpus into its own index folder first")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="BOOK=QUESTIONS.jsonl:PAGES",
        help="a book's question set and pages (repeatable; --index-dir then holds one index per book, DIR/BOOK)",
    )
    p.add_argument(
        "--manifest", type=Path, metavar="FILE", help="JSON/YAML list of {book, questions, pages, index_dir?}"
    )
    p.add_argument(
        "--compare",
        metavar="KEY=VALUE",
        help="also run with this setting changed (e.g. refuse_below=0.45) and print the paired differences",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--misses", type=int, default=0, metavar="N", help="list the first N answers that miss")

    # Listed for --help only: `main` hands `bench ARGS` to the checkout's benchmarks/ before parsing.
    sub.add_parser("bench", add_help=False, help="speed and memory against the raw libraries (from a checkout)")

    p = sub.add_parser("serve", parents=[common], help="run the chat app")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--no-ingest", action="store_true", help="do not index the corpus before serving")

    p = sub.add_parser("log", parents=[common], help="the question log: export or purge records (data requests)")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("--before", help="only records before this date (YYYY-MM-DD)")
    p.add_argument(
        "--student", help="only this student's records: their user name or pseudonym (or name:NAME, pseudonym:ID)"
    )

    # the accounts database: $ATLAS_QA_DATABASE_URL, else $ATLAS_QA_USERS_DB or <index dir>/users.sqlite3
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--index-dir", type=Path, help="index folder (default: $ATLAS_QA_INDEX_DIR or embeddings/)")
    p = sub.add_parser("users", help="manage accounts: add, list, remove, token, unlock")
    users = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    u = users.add_parser("add", parents=[where], help="add a user (or change their role, courses and password)")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=ROLES)
    u.add_argument("--course", action="append", default=[], help="a course the user belongs to (repeatable)")
    u.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    u = users.add_parser("list", parents=[where], help="list the users")
    u.add_argument("--json", action="store_true", help="print them as JSON")
    users.add_parser("remove", parents=[where], help="remove a user, their tokens and sessions").add_argument("name")
    users.add_parser("token", parents=[where], help="print a new API token (replaces the old one)").add_argument("name")
    u = users.add_parser("unlock", parents=[where], help="forget a user's failed sign-ins (lifts their lock)")
    u.add_argument("name")
    u.add_argument("--address", default="", help="also forget the failed sign-ins from this client address")

    p = sub.add_parser("reviews", parents=[common], help="instructor-reviewed answers: list, export, import (JSON)")
    p.add_argument("action", choices=["list", "export", "import"])
    p.add_argument("file", nargs="?", type=Path, help="import: the JSON file `reviews export` wrote (- for stdin)")

    p = sub.add_parser("db", help="the accounts and question-log database: upgrade, status, copy")
    db = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    db.add_parser("upgrade", parents=[where], help="bring the database(s) to the newest schema")
    db.add_parser("status", parents=[where], help="print where the data lives and its schema version")
    d = db.add_parser("copy", parents=[where], help="copy all accounts and the question log into another database")
    d.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://user@host:5432/atlas")
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
    print(json.dumps(report.to_json(), ensure_ascii=False) if as_json else "\n".join(report.summary()))


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


def _index(args: argparse.Namespace, atlas: Any) -> int:
    from .errors import ConfigError
    from .store import backup

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


def _users(args: argparse.Namespace, settings: Any) -> int:
    from .users import UserError, UserStore

    store = UserStore.for_settings(settings)
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
    elif args.action == "unlock":
        if store.get(args.name) is None:
            raise UserError(f"No user named {args.name!r}.")
        n = store.unlock(args.name, args.address)
        print(f"unlocked {args.name}: {n} failed sign-in{'s' * (n != 1)} forgotten")
    return 0


def _db(args: argparse.Namespace, settings: Any) -> int:
    from . import database

    parts = {"accounts": database.accounts_url(settings), "question log": database.log_url(settings)}
    if args.action == "copy":
        sources = [
            (parts["accounts"], database.ACCOUNT_TABLES),
            (parts["question log"], database.LOG_TABLES),
        ]
        for done in database.copy(sources, args.to):
            print(f"{done.table}\t{done.rows} rows\tsha256 {done.checksum[:16]}\tsame in both")
        print(f"Copied into {database.describe(args.to)}: set ATLAS_QA_DATABASE_URL to use it.")
        return 0
    for part, url in parts.items():
        if args.action == "upgrade":
            database.upgrade(database.engine(url))
        print(f"{part}: {database.describe(url)} (schema {database.version(url)})")
    return 0


def _reviews(args: argparse.Namespace, atlas: Any) -> int:
    """List, export or import the course's reviewed answers (an export moves a course's reviews to the next term:
    imported into a re-indexed course, a review whose pages changed is listed as needing review)."""
    from .errors import ConfigError
    from .reviews.store import Review, ReviewStore

    settings = atlas.settings
    store = ReviewStore.for_settings(settings, atlas.sentence_vectors)
    if args.action == "import":
        if args.file is None:
            raise ConfigError("`atlas-qa reviews import` needs the JSON file `reviews export` wrote (- for stdin).")
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text(encoding="utf-8")
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{args.file} is not JSON ({exc}).") from None
        if not isinstance(items, list):
            raise ConfigError(f"{args.file} holds no list of reviews.")
        found = [Review.from_json(item, settings.course) for item in items]  # all checked before any is stored
        for review in found:
            store.put(review)
        print(f"imported {len(found)} review{'s' * (len(found) != 1)} into {settings.course}")
        return 0
    reviews = store.list(settings.course, atlas.page_hash)
    if args.action == "export":
        print(json.dumps([r.to_json() for r in reviews], ensure_ascii=False, indent=2))
        return 0
    for r in reviews:
        state = "needs review" if r.stale else r.kind
        print(f"{r.id}\t{state}\t{r.by}\t{r.day}\t{r.questions[0]}")
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


def _process_defaults() -> None:
    """The process's environment, set here at the edge (library code leaves it alone), unless the user set it:
    the hub stays offline (nothing downloads at run time), tokenizers do not fork threads, and torch's idle OpenMP
    threads sleep instead of spinning (read when torch loads: on a 2-core machine shared with other jobs, one query's
    p95 fell from ~200 to ~30 ms with the torch backend)."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_WAIT_POLICY": "PASSIVE",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
    }.items():
        os.environ.setdefault(key, value)


def _bench(argv: list[str]) -> int:
    """`atlas-qa bench ARGS`: `python -m benchmarks.bench ARGS` in the checkout this package runs from."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "bench.py").is_file():
        print(
            "atlas-qa: `bench` runs the benchmarks/ folder of a source checkout, and this installation has none: "
            "run it from a clone of the repository (pip install -e .), or `python -m benchmarks.bench` there.",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)}
    try:
        return subprocess.run([sys.executable, "-m", "benchmarks.bench", *argv], env=env).returncode
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        _process_defaults()
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    _process_defaults()
    _show_notices()
    try:
        settings = _settings(args)
        if args.command == "serve":
            from .server import serve

            serve(settings, ingest=not args.no_ingest)
            return 0
        if args.command == "users":
            return _users(args, settings)
        if args.command == "log":
            return _log(args, settings)
        if args.command == "db":
            return _db(args, settings)
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
        if args.command in ("eval", "eval-answers", "eval-attribution"):
            from .evaluate import run

            command = {"eval": run.retrieval, "eval-answers": run.answers, "eval-attribution": run.attribution}
            return command[args.command](args, settings)
        if args.command == "chat":
            return _chat(args, atlas)
        if args.command == "reviews":
            return _reviews(args, atlas)
        if args.command == "ask":
            from .asking import Asked, reviewed_answer
            from .reviews.store import ReviewStore

            store = ReviewStore.for_settings(settings, atlas.sentence_vectors)
            answer, review, usual = reviewed_answer(atlas, store, atlas.ask(args.question, k=args.k))
            if args.json:
                out = Asked(answer, "", (), review, usual).to_json(settings.corpus)
                del out["answer_id"]  # nothing is logged from the command line
                print(json.dumps(out, ensure_ascii=False, indent=2))
            else:
                if review:
                    print(f"Reviewed by your instructor ({review.by}), {review.day}:\n")
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
