"""Train a learned sentence scorer over the embedding model's vectors and report it leave one book out.

    python training/ranker/collect.py --index-root IDX          # once: each book's questions and retrievals
    python training/ranker/train.py                             # LOBO table (data/lobo.json), then an ONNX export

A small network reads, per candidate sentence, the question's and the sentence's MiniLM vectors (already computed for
the cheap signals, so it would add no encoding) and `features.FEATURES`. For each book, a network trained on the other
books scores that book's questions (answer metrics as `eval-answers` computes them, beside the hand-set scorer and the
best passage). Seeds are fixed and torch runs on one thread, so a rerun gives the same weights bit for bit.
Measured (docs/ranker.md): it ranks the answering sentence first more often than the hand-set scorer, but the answers
it composes are worse on every book, so it is not shipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import features as rk
import numpy as np
import torch
from common import DATA, CachedEmbed, Item, answer_metrics, items, load_book
from torch import nn

from atlas_qa.answer.extract import (
    Candidates,
    hand_scores,
    own_scores,
    spread,
)

BOOKS = ("polisci", "sociology", "psychology", "ushistory", "philosophy", "anthropology")
SEED = 107
HIDDEN = 32
EPOCHS = 40
TEMPERATURES = (1.0, 4.0, 1000.0)
BETAS = (0.05, 0.1, 0.2)
SET_WEIGHT = {"student": 1.0, "review": 1.0, "definition": 1.0}


class Net(nn.Module):
    """score = MLP([q * s, s, features]) + linear(features): the vectors say what the sentence is about and whether it
    meets the question, the features what kind of sentence it is and what the cheap signals found."""

    def __init__(self, dim: int, n_features: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim + n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.linear = nn.Linear(n_features, 1)

    def forward(self, question: torch.Tensor, sentence: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        x = torch.cat([question * sentence, sentence, features], dim=-1)
        return (self.mlp(x) + self.linear(features)).squeeze(-1)


def tensors(batch: list[Item]) -> tuple[torch.Tensor, ...]:
    """Questions padded to the longest candidate list: q, s, f, labels (-1 padding or not shown), weights."""
    n = max(len(it.cands.sentences) for it in batch)
    d = batch[0].cands.vectors.shape[1]
    f = len(rk.FEATURES)
    q = np.zeros((len(batch), n, d), np.float32)
    s = np.zeros((len(batch), n, d), np.float32)
    x = np.zeros((len(batch), n, f), np.float32)
    y = -np.ones((len(batch), n), np.float32)
    w = np.zeros(len(batch), np.float32)
    for i, it in enumerate(batch):
        m = len(it.cands.sentences)
        q[i, :m] = it.cands.vectors[0]
        s[i, :m] = it.cands.vectors[1:]
        x[i, :m] = rk.features(it.cands)
        y[i, :m] = it.labels
        w[i] = SET_WEIGHT[it.set]
    return tuple(torch.from_numpy(a) for a in (q, s, x, y, w))


def listwise_loss(scores: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """-log of the softmax mass on the answering sentences, over the sentences that may be shown."""
    masked = scores.masked_fill(y < 0, -1e4)
    pos = masked.masked_fill(y != 1, -1e4)
    loss = torch.logsumexp(masked, 1) - torch.logsumexp(pos, 1)
    return (loss * w).sum() / w.sum()


def train(train_items: list[Item], epochs: int = EPOCHS, log: bool = False) -> Net:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    usable = [it for it in train_items if (it.labels == 1).any()]
    dim = usable[0].cands.vectors.shape[1]
    net = Net(dim, len(rk.FEATURES))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-3)
    batches = [tensors(usable[i : i + 64]) for i in range(0, len(usable), 64)]
    for epoch in range(epochs):
        total = 0.0
        for b in rng.permutation(len(batches)):
            q, s, x, y, w = batches[b]
            loss = listwise_loss(net(q, s, x), y, w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        if log and epoch % 10 == 9:
            print(f"  epoch {epoch + 1}: loss {total / len(batches):.4f}", file=sys.stderr)
    return net.eval()


def logits_of(net: Net, c: Candidates) -> np.ndarray:
    with torch.no_grad():
        q = torch.from_numpy(np.repeat(c.vectors[:1], len(c.sentences), 0).astype(np.float32))
        s = torch.from_numpy(c.vectors[1:].astype(np.float32))
        return net(q, s, torch.from_numpy(rk.features(c))).numpy()


def alone(net: Net, temperature: float):
    """The network alone as `compose`'s scorer: softmax(logits / T), so the rule "a further sentence needs 0.6 of the
    best's score" picks fewer sentences the surer it is (T large: always up to three)."""

    def score(c: Candidates) -> np.ndarray:
        return rk.confidence(logits_of(net, c) / temperature) if c.sentences else np.zeros(0, np.float32)

    return score


def blended(net: Net, beta: float):
    """The hand-set score plus beta x the network's standardised logit, spread to neighbours as the hand scorer is."""

    def score(c: Candidates) -> np.ndarray:
        if not c.sentences:
            return np.zeros(0, np.float32)
        z = logits_of(net, c)
        z = (z - z.mean()) / (z.std() + 1e-6)
        return spread(c.sentences, own_scores(c.signals) + beta * z)

    return score


def ranking(items_: list[Item], score) -> dict[str, float]:
    """Among questions with an answering sentence shown: how often the best-scored one answers, and one of the top 3."""
    top1 = top3 = n = 0
    for it in items_:
        shown = np.flatnonzero(it.labels >= 0)
        if not (it.labels == 1).any():
            continue
        order = shown[np.argsort(-score(it.cands)[shown], kind="stable")]
        n += 1
        top1 += it.labels[order[0]] == 1
        top3 += (it.labels[order[:3]] == 1).any()
    return {"n": n, "top1": round(top1 / max(n, 1), 3), "top3": round(top3 / max(n, 1), 3)}


def export(net: Net, path: Path) -> None:
    dim = net.mlp[0].in_features - len(rk.FEATURES)
    dim //= 2
    dummy = (torch.zeros(3, dim), torch.zeros(3, dim), torch.zeros(3, len(rk.FEATURES)))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        dummy,
        str(path),
        input_names=["question", "sentence", "features"],
        output_names=["score"],
        dynamic_axes={"question": {0: "n"}, "sentence": {0: "n"}, "features": {0: "n"}, "score": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--books", nargs="*", default=list(BOOKS))
    ap.add_argument("--export", type=Path, help="also train on all the books and write the network as ONNX here")
    ap.add_argument("--report", type=Path, default=DATA / "lobo.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    embed = CachedEmbed(DATA / "vectors.pkl")
    data = {b: load_book(b) for b in args.books}
    its = {b: items(data[b], embed) for b in args.books}
    embed.save()
    print(f"features of {sum(map(len, its.values()))} questions: {time.time() - t0:.0f} s", file=sys.stderr)
    report: dict = {}
    for book in args.books:
        t1 = time.time()
        net = train([it for b in args.books if b != book for it in its[b]])
        variants = {"hand": hand_scores}
        variants |= {f"alone T={t:g}": alone(net, t) for t in TEMPERATURES}
        variants |= {f"blend beta={b:g}": blended(net, b) for b in BETAS}
        rank = {"learned": ranking(its[book], alone(net, 1.0)), "hand": ranking(its[book], hand_scores)}
        runs = {name: answer_metrics(data[book], embed, f) for name, f in variants.items()}
        sets = {s: {name: r[s]["answer"] for name, r in runs.items()} for s in runs["hand"]}
        for s in sets:
            sets[s]["passage"] = runs["hand"][s]["top_passage"]
        report[book] = {"ranking": rank, "sets": sets, "seconds": round(time.time() - t1, 1)}
        for s, rows in sets.items():
            for name, m in rows.items():
                ev = "-" if m["evidence_hit"] is None else f"{m['evidence_hit']:.3f}"
                print(f"{book:12} {s:10} {name:16} hit {m['hit']:.3f} evidence {ev} words {m['words_median']}")
        print(f"{book:12} ranking (answering sentence first / in top 3): {rank}", flush=True)
    args.report.write_text(json.dumps(report, indent=1))
    if args.export:
        t1 = time.time()
        net = train([it for b in args.books for it in its[b]], log=True)
        export(net, args.export)
        print(f"trained on all books in {time.time() - t1:.0f} s -> {args.export}", file=sys.stderr)


if __name__ == "__main__":
    main()
