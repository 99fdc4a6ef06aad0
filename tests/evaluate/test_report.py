"""Evaluation output (evaluate/report.py): JSON, the table, the recall plot."""

from __future__ import annotations

import json
import sys

import pytest

from atlas_qa.errors import AtlasError
from atlas_qa.evaluate import (
    evaluate,
    format_table,
    plot_recall,
    report_json,
)

from .fakes import METRICS, QUESTIONS, fake_search


def test_report_json_shape():
    a = evaluate(fake_search, QUESTIONS, retriever_name="hybrid")
    b = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="dense")
    out = report_json([a, b])
    assert out["n"] == 4
    assert list(out["retrievers"]) == ["hybrid", "dense"]
    entry = out["retrievers"]["hybrid"]
    assert set(entry) == METRICS | {"p50_ms", "p95_ms", "by_kind"}
    assert set(entry["by_kind"]) == {"definition", "comparison"}
    assert set(entry["by_kind"]["comparison"]) == METRICS
    assert out["retrievers"]["dense"]["recall@1"] == 0.25
    json.dumps(out)  # serialisable as is


def test_format_table():
    a = evaluate(fake_search, QUESTIONS, retriever_name="hybrid")
    b = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="bm25")
    text = format_table([a, b])
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("retriever"))
    for col in ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "p50 ms"):
        assert col in header
    row = next(line for line in lines if line.startswith("hybrid "))
    mrr, ndcg = f"{a.metrics['mrr@10']:.4f}", f"{a.metrics['ndcg@10']:.4f}"
    assert row.split()[1:6] == ["0.2500", "0.5000", "0.7500", mrr, ndcg]
    bm25 = next(line for line in lines if line.startswith("bm25 "))
    assert len(row) == len(bm25)  # aligned columns
    assert any("hybrid / definition (n=2)" in line for line in lines)
    assert any("bm25 / comparison (n=2)" in line for line in lines)


def test_plot_recall_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    report = evaluate(fake_search, QUESTIONS)
    other = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="bm25")
    out = plot_recall([report, other], tmp_path / "plots" / "r.png")
    data = out.read_bytes()
    assert out == tmp_path / "plots" / "r.png"
    assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_plot_recall_without_matplotlib(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(AtlasError, match="pip install matplotlib"):
        plot_recall([evaluate(fake_search, QUESTIONS)], tmp_path / "r.png")
