"""What the training scripts share: the collected books, their candidate sentences with signals and labels, and an
offline run of the answer composition scored like `atlas-qa eval-answers`."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atlas_qa.answer import extract
from atlas_qa.answer.kinds import intent
from atlas_qa.evaluate import answers as ea

DATA = Path(__file__).parent / "data"


class CachedEmbed:
    """The model's `embed` with every vector kept (and saved), so repeated runs encode each sentence once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.exists() else {}
        self._model = None

    def __call__(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            if self._model is None:
                from atlas_qa.config import Settings
                from atlas_qa.embedding import embedder_for

                self._model = embedder_for(Settings.from_env(index_dir=DATA / "model-cache"))
            for i in range(0, len(missing), 256):
                part = missing[i : i + 256]
                self.vectors.update(zip(part, self._model.embed_batch(part)))
        return np.stack([self.vectors[t] for t in texts])

    def save(self) -> None:
        self.path.write_bytes(pickle.dumps(self.vectors))


def load_book(book: str, data: Path = DATA) -> dict:
    return pickle.loads((data / f"{book}.pkl").read_bytes())


@dataclass
class Item:
    """One question's candidates: sentences, their signals and labels (1 answers it, 0 not, -1 unknown)."""

    book: str
    set: str
    row: dict
    cands: extract.Candidates
    labels: np.ndarray


def labels_for(row: dict, cands: list) -> np.ndarray:
    """Evidence sentences (student questions) are positives; else the shown sentence(s) covering most of the expected
    answer's words, if they cover at least half (a weak label). Sentences that cannot be shown are -1."""
    texts = [ea.display_form(c.text) for c in cands]
    y = np.zeros(len(cands), dtype=np.int8)
    if row.get("evidence"):
        ev = [ea.display_form(e) for e in row["evidence"]]
        for i, t in enumerate(texts):
            if len(t) >= 25 and any(e in t or t in e for e in ev):
                y[i] = 1
    elif row.get("expected"):
        recall = np.array([ea.expected_recall(row["expected"], t) if c.shown else 0.0 for c, t in zip(cands, texts)])
        if len(recall) and recall.max() >= 0.5:
            y[recall >= recall.max() - 1e-9] = 1
    for i, c in enumerate(cands):
        if not c.shown:
            y[i] = -1
    return y


def items(data: dict, embed: Callable) -> list[Item]:
    out = []
    idf = data["idf"]
    for row in data["questions"]:
        r = row["retrieval"]
        cands = extract._candidates(r.passages[: extract.ANSWER_PASSAGES], data["docs"])
        c = extract.scored_candidates(row["question"], intent(row["question"]), cands, lambda t: idf.get(t, 0.0), embed)
        out.append(Item(data["book"], row["set"], row, c, labels_for(row, cands)))
    return out


def answer_metrics(data: dict, embed: Callable, scorer=None, refuse_below: float = 0.5, sets=None) -> dict:
    """`eval-answers` offline: compose each question's answer from its collected retrieval, score it and the best
    passage whole; {set: {"answer": summary, "top_passage": summary, "rows": [(ours, base)]}}."""
    idf = data["idf"]
    by_set: dict[str, list] = {}
    for row in data["questions"]:
        if sets and row["set"] not in sets:
            continue
        r = row["retrieval"]
        q = ea.AnswerQuestion(
            row["id"], row["question"], row.get("kind", ""), row.get("expected", ""), tuple(row.get("evidence") or ())
        )
        a = extract.compose(
            row["question"], r, data["docs"], refuse_below, lambda t: idf.get(t, 0.0), embed, scorer=scorer
        )
        ours = ea._score(q, ea.Shown(a.answer, a.refused))
        base = ea._score(q, ea.Shown(r.passages[0].chunk.text if r.passages else "", not r.passages))
        by_set.setdefault(row["set"], []).append((ours, base))
    return {
        s: {"answer": ea._summary([o for o, _ in rows]), "top_passage": ea._summary([b for _, b in rows]), "rows": rows}
        for s, rows in by_set.items()
    }
