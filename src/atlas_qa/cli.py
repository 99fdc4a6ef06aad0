"""`atlas-qa` command line: thin over `atlas_qa.core`; imports nothing heavy until a command runs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import AtlasError


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, help="index folder (default: $ATLAS_QA_INDEX_DIR or embeddings/)")
    common.add_argument("--model", help="embedding model (default: the packaged all-MiniLM-L6-v2)")

    parser = argparse.ArgumentParser(prog="atlas-qa", description="Questions answered from course material, with sources.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="index course files (incremental)")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: corpus/)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--strict", action="store_true", help="exit with an error if any file was skipped")

    p = sub.add_parser("ask", parents=[common], help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="passages to cite (default 5)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("serve", parents=[common], help="run the chat app")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--no-ingest", action="store_true", help="do not index the corpus before serving")
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from .config import Settings

    return Settings.from_env(
        index_dir=args.index_dir,
        model=args.model,
        k=getattr(args, "k", None),
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
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)


def answer_json(answer: Any) -> dict[str, Any]:
    """The `ask --json` shape."""
    return {
        "question": answer.question,
        "answer": answer.answer,
        "refused": answer.refused,
        "closest_pages": list(answer.closest_pages),
        "citations": [asdict(c) for c in answer.citations],
    }


def _print_answer(answer: Any) -> None:
    print(answer.answer)
    if answer.refused and answer.closest_pages:
        print("\nClosest pages: " + ", ".join(answer.closest_pages))
    for c in answer.citations:
        who = f" — {c.chain or c.speaker}" if (c.chain or c.speaker) else ""
        print(f"\n[{c.n}] {c.title}" + (f" › {c.section}" if c.section else "") + f" ({c.page_id}){who}")
        print("    " + " ".join(c.text.split())[:400])
        for cite in c.cites:
            print(f"    cites {cite.label}: {cite.reference or '(not in the page references)'}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "serve":
            from .ui import serve

            serve(settings, ingest=not args.no_ingest)
            return 0
        from .core import Atlas

        atlas = Atlas(settings)
        if args.command == "ingest":
            report = atlas.ingest(args.paths or None, progress=sys.stderr.isatty() or not args.json)
            _print_ingest(report, args.json)
            return 3 if (args.strict and report.skipped) else 0
        if args.command == "ask":
            answer = atlas.ask(args.question, k=args.k)
            if args.json:
                print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
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
