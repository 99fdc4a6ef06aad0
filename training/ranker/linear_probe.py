"""Dev probe: the hand scorer's form (a weighted sum of signals, spread to neighbours) with the weights learned
listwise leave one book out instead of set by hand on polisci."""

import sys

import features as rk
import numpy as np
import torch
import train as tr
from common import DATA, CachedEmbed, answer_metrics, items, load_book

from atlas_qa.answer.extract import spread

books = sys.argv[1].split(",")
cols = [rk.FEATURES.index(c) for c in sys.argv[2].split(",")]
torch.manual_seed(0)
embed = CachedEmbed(DATA / "vectors.pkl")
data = {b: load_book(b) for b in books}
its = {b: items(data[b], embed) for b in books}


def fit(train_items):
    torch.manual_seed(tr.SEED)
    w = torch.zeros(len(cols), requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    usable = [it for it in train_items if (it.labels == 1).any()]
    batches = []
    for i in range(0, len(usable), 128):
        _, _, x, y, wt = tr.tensors(usable[i : i + 128])
        batches.append((x[..., cols], y, wt))
    for _ in range(60):
        for x, y, wt in batches:
            loss = tr.listwise_loss(x @ w * 10, y, wt)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().numpy()


for book in books:
    w = fit([it for b in books if b != book for it in its[b]])
    print(book, dict(zip([rk.FEATURES[c] for c in cols], np.round(w / w[0], 3))), flush=True)

    def scorer(c, w=w):
        return spread(c.sentences, rk.features(c)[:, cols] @ w / w[0]) if c.sentences else np.zeros(0, np.float32)

    res = answer_metrics(data[book], embed, scorer)
    for s, r in res.items():
        a = r["answer"]
        ev = "-" if a["evidence_hit"] is None else f"{a['evidence_hit']:.3f}"
        print(f"{book:12} {s:10} linear   hit {a['hit']:.3f} evidence {ev} words {a['words_median']}", flush=True)
