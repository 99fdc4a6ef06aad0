"""The benchmark harness (benchmarks/): what must stay cheap, checked by counting, never by timing; the `atlas-qa bench`
entry; and a smoke run (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.evaluate.metrics import percentile
from benchmarks import bench, system
from tests.embedder import HASH, HashEmbedder

from .conftest import DATA, ROOT

SPEC_KEYS = {
    "ingest": {"chunks", "chunks_per_s", "raw_encode_chunks_per_s", "ratio"},
    "query": {"retrieve_p50_ms", "retrieve_p95_ms", "raw_p50_ms", "ratio_p50", "ask_p50_ms", "ask_p95_ms"},
    "top": {"reingest_noop_s", "reingest_one_page_s", "cold_ask_s", "raw_cold_s", "help_s", "peak_rss_mb", "scale"},
    "scale": {"chunks", "retrieve_p50_ms", "retrieve_p95_ms", "rss_mb"},
}


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(64)
        self.embedded = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return super().embed_batch(texts)


def test_noop_reingest_embeds_nothing(corpus: Path, hash_settings: Settings):
    embedder = CountingEmbedder()
    atlas = Atlas(hash_settings, embedder=embedder)
    first = atlas.ingest([corpus])
    assert first.embedded > 0 and embedder.embedded == first.embedded
    embedder.embedded = 0
    again = atlas.ingest([corpus])
    assert (again.embedded, embedder.embedded, again.unchanged) == (0, 0, first.added)
    # One edited page: only its chunks are embedded again.
    page = sorted((corpus / "polisci").glob("*.md"))[0]
    page.write_text(page.read_text(encoding="utf-8") + bench.EDIT, encoding="utf-8")
    edited = atlas.ingest([corpus])
    assert edited.updated == 1 and 0 < embedder.embedded == edited.embedded < first.embedded


def test_the_cli_and_the_bench_harness_import_nothing_heavy():
    code = (
        "import sys\nimport atlas_qa.cli\nimport benchmarks.bench\n"
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'onnxruntime', 'transformers', 'numpy')"
        " if m in sys.modules]\nprint(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_percentile_matches_numpy():
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 50, 95, 100):
        assert abs(percentile(values, q) - float(np.percentile(values, q))) < 1e-9


def test_bench_settings_keep_only_what_is_measured(tmp_path: Path):
    mine = Settings(model="hash-64", embedder=HASH, batch_size=8, k=3, fetch_k=30, index_dir=tmp_path / "user-index")
    got = system.bench_settings(mine, index_dir=tmp_path / "b")
    assert (got.model, got.batch_size, got.k, got.fetch_k, got.index_dir) == ("hash-64", 8, 3, 30, tmp_path / "b")
    env = system.settings_env(got)
    assert env["ATLAS_QA_INDEX_DIR"] == str(tmp_path / "b") and env["ATLAS_QA_MODEL"] == "hash-64"


def test_atlas_qa_bench_runs_the_checkouts_harness_or_says_why_not(tmp_path: Path):
    cli = [sys.executable, "-m", "atlas_qa.cli", "bench"]
    done = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--scale" in done.stdout and "--max-questions" in done.stdout
    bad = subprocess.run([*cli, "--scale", "x,y"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--scale takes chunk counts" in bad.stderr
    # The package alone, without the checkout around it (as pip installs it): a clear message, no traceback.
    shutil.copytree(ROOT / "src" / "atlas_qa", tmp_path / "site" / "atlas_qa")
    alone = subprocess.run(
        cli, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    )
    assert alone.returncode == 2 and "source checkout" in alone.stderr and "Traceback" not in alone.stderr


@pytest.mark.slow
def test_bench_smoke_on_tiny_data(tmp_path: Path):
    """Every reported key, on three pages, the hash embedder and a tiny scale run (no timing is checked)."""
    questions = tmp_path / "questions.jsonl"
    lines = (DATA / "polisci_questions.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = bench.BenchOptions(corpus=DATA / "polisci", questions=questions, scale=(120,), cold_runs=1)
    result = bench.run(Settings(model="hash-64", embedder=HASH, refuse_below=0.0), options, log=lambda _: None)

    assert SPEC_KEYS["top"] <= set(result)
    assert SPEC_KEYS["ingest"] <= set(result["ingest"]) and SPEC_KEYS["query"] <= set(result["query"])
    assert [set(s) >= SPEC_KEYS["scale"] for s in result["scale"]] == [True, True]
    assert result["ingest"]["chunks"] == result["scale"][0]["chunks"] > 0
    assert 120 <= result["scale"][1]["chunks"] < 120 + result["scale"][0]["chunks"]
    assert result["query"]["n"] == 8 - bench.WARMUP
    assert result["reingest_noop_embedded"] == 0 and result["reingest_one_page_embedded"] > 0
    assert result["raw_cold_s"] is None  # the hash embedder has no sentence-transformers model to load
    json.dumps(result)  # plain data

    table = bench.format_table(result)
    assert "ingest (chunks/s)" in table and "--help (s)" in table
    assert not {"ok", "MISSED"} & set(table.split())  # numbers and ratios; verdicts are in docs/performance.md
    png = bench.plot(result, tmp_path / "scale.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
def test_bench_with_the_real_model_runs_every_baseline(tmp_path: Path, model_cache: Path):
    """The real model on three pages: the raw encode, raw query and raw cold baselines all run (no timing is checked)."""
    questions = tmp_path / "questions.jsonl"
    lines = (DATA / "polisci_questions.jsonl").read_text(encoding="utf-8").splitlines()[:8]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = bench.BenchOptions(corpus=DATA / "polisci", questions=questions, scale=(), cold_runs=1)
    result = bench.run(Settings(cache_dir=model_cache), options, log=lambda _: None)

    assert result["backend"] == "onnx-int8" and result["model"].endswith("@onnx-int8")
    assert result["ingest"]["raw_encode_chunks_per_s"] > 0 and result["query"]["raw_p50_ms"] > 0
    assert result["raw_cold_s"] > 0 and result["cold_ask_s"] > 0  # the child `ask` found the index and the model
    assert result["reingest_noop_embedded"] == 0
    assert [s["chunks"] for s in result["scale"]] == [result["ingest"]["chunks"]]
