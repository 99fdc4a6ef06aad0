"""What reviewed answers cost a warm `ask`: p50 with 1,000 reviewed answers in the course against none, measured in
the same run, in alternating blocks (the real model; the polisci corpus). Prints JSON numbers and the difference.

The 1,000 reviews answer 1,000 polisci questions and claims (each composed of one sentence of its gold page); the timed
questions are 40 others (no review matches them: the usual path plus the matching), then 40 reviewed questions
asked again (a review matches: the reviewed answer is given).

    python benchmarks/reviews.py [--index-dir DIR] [--reviews 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from atlas_qa import database
from atlas_qa.asking import Asker
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.insight import QuestionLog
from atlas_qa.reviews.store import ReviewStore, compose

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "openstax-polisci"


def questions() -> list[dict[str, Any]]:
    """The polisci questions, the students' first (1,000 distinct ones and more)."""
    found = [
        json.loads(x)
        for name in ("student_questions.jsonl", "questions.jsonl", "claims.jsonl")
        for x in (CORPUS / name).read_text().splitlines()
        if x.strip()
    ]
    for item in found:
        item.setdefault("question", item.get("claim", ""))
    return list({q["question"]: q for q in found if q["question"]}.values())


def reviewed_store(atlas: Atlas, url: str, items: list[dict[str, Any]]) -> ReviewStore:
    """A store holding one composed review per question (one sentence of the question's gold page)."""
    store = ReviewStore(url, atlas.sentence_vectors)
    pages = {p["page_id"] for p in atlas.pages()}
    for item in items:
        page = next((p for p in pages if p.endswith(str(item.get("gold_page", "")))), next(iter(sorted(pages))))
        text = atlas.document(page).text
        end = text.find(". ", 40) + 1 or min(len(text), 200)
        answer = compose(atlas.document, item["question"], [(page, 0, end)])
        store.create(atlas.settings.course, [item["question"]], "composed", answer, "", "bench", atlas.page_hash)
    return store


def p50_ms(asker: Asker, asked: list[str], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for q in asked:
            t = time.perf_counter()
            asker.ask("bench-student", q)
            times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/atlas-qa-reviews-bench"))
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.index_dir, course="polisci")
    atlas = Atlas(settings)
    if atlas.index.count() == 0:
        atlas.ingest([CORPUS / "pages"])
    tmp = Path(tempfile.mkdtemp(prefix="atlas-reviews-bench-"))
    log = QuestionLog(settings.with_(log_db=tmp / "questions.sqlite3"), atlas.sentence_vectors)
    items = questions()
    reviewed, others = items[: args.reviews], [q["question"] for q in items[args.reviews : args.reviews + 40]]
    if len(others) < 40:
        others = [f"{q['question']} Explain briefly." for q in items[:40]]
    started = time.perf_counter()
    full = reviewed_store(atlas, database.sqlite_url(tmp / "reviews.sqlite3"), reviewed)
    build_s = time.perf_counter() - started
    empty = ReviewStore(database.sqlite_url(tmp / "none.sqlite3"), atlas.sentence_vectors)
    with_none, with_all = Asker(atlas, log, empty), Asker(atlas, log, full)
    for q in others:
        with_all.ask("bench-student", q)  # warm: model, BM25, vectors of these questions cached as in a running app
    times: dict[str, list[float]] = {"none": [], "reviews": []}
    for r in range(args.rounds):
        for mode in ("none", "reviews") if r % 2 == 0 else ("reviews", "none"):
            times[mode] += p50_ms(with_none if mode == "none" else with_all, others, 1)
        log.flush()
    hits = [q["question"] for q in reviewed[:40]]
    for q in hits:
        with_all.ask("bench-student", q)
    hit_times = p50_ms(with_all, hits, 2)
    given = sum(with_all.ask("bench-student", q).reviewed is not None for q in hits)
    none_ms, all_ms = statistics.median(times["none"]), statistics.median(times["reviews"])
    log.close()
    print(
        json.dumps(
            {
                "reviewed_questions": len(reviewed),
                "building_reviews_s": round(build_s, 1),
                "asks_each": len(times["none"]),
                "ask_p50_ms_no_reviews": round(none_ms, 2),
                "ask_p50_ms_with_reviews": round(all_ms, 2),
                "added_p50_ms": round(all_ms - none_ms, 2),
                "ratio": round(all_ms / none_ms, 3),
                "reviewed_question_asked_again_p50_ms": round(statistics.median(hit_times), 2),
                "reviewed_answer_given": f"{given}/{len(hits)}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
