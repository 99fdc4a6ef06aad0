"""Instructor insight at scale: 50,000 logged questions in a course, the report and the API over them, and what
logging adds to a warm `ask`. Prints JSON numbers and ratios (no verdicts).

The log is synthetic but built from real answers: the polisci corpus's questions (and student questions) are asked
once each with the real model; each logged question is one of them with a variation (a prefix, lower case, a typo-free
rewording template), asked by one of 400 pseudonymous students over 120 days. About 15% are refused (out-of-scope
questions asked for real, plus variations), 10% rated (a quarter of those thumbs-down), 20% follow-ups. A variation's
vector is its base question's vector with small noise (encoding 50,000 texts would take the model ten minutes and
measure nothing about insight).

The same numbers for each database the log can live in: the SQLite file, and with `--postgres` a throwaway
PostgreSQL cluster (Debian's server, as the tests start it) or `--database-url URL`, with the ratio to SQLite.

    python benchmarks/insight.py [--index-dir DIR] [--records 50000] [--chroma-url URL] [--postgres]  # results/
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from atlas_qa import database
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.insight import QuestionLog, build_insights, insights_json
from atlas_qa.insight.entry import DAY, NO_RATING
from atlas_qa.insight.pseudonyms import pseudonym
from atlas_qa.insight.record import answer_document, answer_metadata

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "openstax-polisci"
OUT_OF_SCOPE = [
    "How do I appeal a parking fine on campus?",
    "When is the library open on Sundays?",
    "What is the best pizza place near the university?",
    "How do I reset my student email password?",
    "Can I get an extension on the final essay?",
    "What are the rules for intramural soccer?",
    "How do photosynthesis and respiration differ?",
    "Who won the football championship last year?",
    "How do I register for next semester's classes?",
    "What is the formula for the derivative of a product?",
    "How much does a dorm room cost?",
    "Where can I buy a used textbook cheaply?",
]
PREFIXES = ["", "", "", "Can you explain: ", "Quick question: ", "For the exam, ", "Please tell me: "]


def build_index(settings: Settings) -> Atlas:
    atlas = Atlas(settings)
    if atlas.index.count() == 0:
        atlas.ingest([CORPUS / "pages"])
    return atlas


def base_questions() -> list[str]:
    rows = []
    for name in ("questions.jsonl", "student_questions.jsonl"):
        rows += [json.loads(x)["question"] for x in (CORPUS / name).read_text().splitlines() if x.strip()]
    return rows


def answer_bases(atlas: Atlas, seed: int = 7) -> tuple[list[Any], float]:
    """Each base question answered once (what the synthetic records vary), and the seconds it took."""
    rng = random.Random(seed)
    bases = rng.sample(base_questions(), 400) + OUT_OF_SCOPE
    started = time.perf_counter()
    answered = []
    for q in bases:
        answer = atlas.ask(q)
        meta = answer_metadata(answer, q, "", False, 0.0, atlas.index.document)
        answered.append((q, answer, meta, answer_document(answer), atlas.question_vector(answer.searched)))
    return answered, time.perf_counter() - started


def synthetic_log(answered: list[Any], log: QuestionLog, course: str, n: int, seed: int = 7) -> dict[str, Any]:
    """Write `n` records varied from the answered base questions straight into the course's log."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    in_scope = [a for a in answered if not a[1].refused]
    refused = [a for a in answered if a[1].refused]
    students = [pseudonym(log.key, f"student{i}") for i in range(400)]
    now = time.time()
    started = time.perf_counter()
    rows, heavy = [], []
    for _ in range(n):
        q, answer, meta, doc, vector = rng.choice(refused if rng.random() < 0.15 and refused else in_scope)
        rated = rng.random() < 0.10
        v = vector + noise.normal(0, 0.02, size=vector.shape).astype(np.float32)
        row = {
            **meta,
            "id": uuid.uuid4().hex,
            "course": course,
            "t": now - rng.random() * 120 * DAY,
            "student": rng.choice(students),
            "question": rng.choice(PREFIXES) + (q.lower() if rng.random() < 0.3 else q),
            "follow_up": rng.random() < 0.20,
            "helpful": (int(rng.random() >= 0.25) if rated else NO_RATING),
            "comment": "",
        }
        rows.append(row)
        row["follow_up"] = int(row["follow_up"])
        heavy.append({"id": row["id"], "answer": doc, "vector": (v / np.linalg.norm(v)).astype(np.float32).tobytes()})
    log.ready(course)
    with log.db() as db:
        db.execute(sa.insert(database.questions), rows)
        db.execute(sa.insert(database.answers), heavy)
    return {
        "base_questions": len(answered),
        "refused_bases": len(refused),
        "writing_records_s": round(time.perf_counter() - started, 1),
    }


def timed(fn: Any, runs: int = 3) -> tuple[float, Any]:
    """Median seconds of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def api_seconds(settings: Settings, atlas: Atlas, course: str, runs: int = 3) -> float:
    """Median seconds of GET /api/v1/insights over real HTTP (uvicorn in a thread, an admin's token)."""
    import socket
    import urllib.request

    import uvicorn

    from atlas_qa.server import create_app
    from atlas_qa.users import UserStore

    store = UserStore.for_settings(settings)
    store.rounds = 4
    store.add("bench-admin", "admin", [], "bench-password-1")
    token = store.new_token("bench-admin")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings, atlas)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/insights?course={course}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        seconds, _ = timed(lambda: json.loads(opener.open(request, timeout=120).read()), runs)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return seconds


def ask_overhead(atlas: Atlas, log: QuestionLog, course: str, rounds: int = 6) -> dict[str, float]:
    """Warm `ask` p50 in blocks without and with logging (alternating which comes first); with logging, the caller's
    cost (the cached vector, the queued write) and the background writer's, which runs during the block's asks."""
    questions = base_questions()[:40]
    for q in questions:
        atlas.ask(q)  # warm: model loaded, vectors cached as in a running app
    times: dict[str, list[float]] = {"plain": [], "logged": []}
    record: list[float] = []
    for r in range(rounds):
        for mode in ("plain", "logged") if r % 2 == 0 else ("logged", "plain"):
            for q in questions:
                t = time.perf_counter()
                answer = atlas.ask(q)
                if mode == "logged":
                    t2 = time.perf_counter()
                    vector = atlas.question_vector(answer.searched)
                    log.record(course, "bench-student", answer, q, vector=vector, document=atlas.index.document)
                    record.append(time.perf_counter() - t2)
                times[mode].append(time.perf_counter() - t)
            log.flush()  # the block's writes done before the next block
    p_plain, p_logged = (statistics.median(times[m]) * 1000 for m in ("plain", "logged"))
    return {
        "asks_each": len(times["plain"]),
        "ask_p50_ms": round(p_plain, 2),
        "ask_logged_p50_ms": round(p_logged, 2),
        "added_p50_ms": round(p_logged - p_plain, 2),
        "ratio": round(p_logged / p_plain, 3),
        "record_call_p50_ms": round(statistics.median(record) * 1000, 3),
    }


def measure(settings: Settings, atlas: Atlas, answered: list[Any], records: int) -> dict[str, Any]:
    """Every number of one database: build the log, read it, the report, the API, the cost of logging an ask."""
    course = settings.course
    log = QuestionLog.open(settings, atlas)
    out: dict[str, Any] = {"database": database.describe(database.log_url(settings))}
    out["build"] = synthetic_log(answered, log, course, records)
    read, entries = timed(lambda: log.entries(course))
    missed = [e.id for e in entries if e.refused or e.helpful is False]
    out["log_entries_read_s"] = round(read, 3)
    out["refused_or_thumbs_down"] = len(missed)
    seconds, _ = timed(lambda: log.vectors(course, missed[-2000:]))
    out["gap_vectors_read_s"] = round(seconds, 3)
    seconds, ins = timed(lambda: build_insights(atlas, log, course))
    out["build_insights_s"] = round(seconds, 3)
    out["gaps"] = len(ins.gaps)
    out["largest_gap"] = {"label": ins.gaps[0].label, "students": ins.gaps[0].students} if ins.gaps else None
    out["json_kb"] = round(len(json.dumps(insights_json(ins))) / 1024, 1)
    out["api_insights_s"] = round(api_seconds(settings, atlas, course), 3)
    out["ask"] = ask_overhead(atlas, log, course)
    log.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/atlas-qa-insight-bench"))
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--chroma-url", default="")
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    parser.add_argument("--database-url", default="", help="also on this (empty) PostgreSQL database")
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.index_dir, course="polisci", chroma_url=args.chroma_url or None)
    atlas = build_index(settings)
    for path in (settings.log_db, settings.users_db):  # a fresh log and accounts each run (the bench's own folder)
        for leftover in Path(path).parent.glob(Path(path).name + "*"):  # type: ignore[arg-type]
            leftover.unlink()
    answered, ask_seconds = answer_bases(atlas)
    out: dict[str, Any] = {"records": args.records, "store": "server" if args.chroma_url else "embedded"}
    out["asking_bases_s"] = round(ask_seconds, 1)
    out["sqlite"] = measure(settings, atlas, answered, args.records)
    cluster = None
    url = args.database_url
    if args.postgres and not url:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.postgres import Cluster, server_bin

        found = server_bin()
        if found is None:
            raise SystemExit("PostgreSQL's server is not installed (apt-get install postgresql).")
        cluster = Cluster(found)
        url = cluster.new_database()
    try:
        if url:
            out["postgresql"] = pg = measure(settings.with_(database_url=url), atlas, answered, args.records)
            out["postgresql_to_sqlite"] = {
                k: round(pg[k] / out["sqlite"][k], 2)
                for k in ("log_entries_read_s", "gap_vectors_read_s", "build_insights_s", "api_insights_s")
                if out["sqlite"][k]
            }
    finally:
        if cluster is not None:
            cluster.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
