"""The benchmark's output: an aligned table of numbers and ratios (no verdicts: the targets and how each run
compares live in docs/performance.md) and a plot of retrieval at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atlas_qa.evaluate.report import aligned, new_figure, save_figure

HEADER = ("measure", "atlas-qa", "baseline", "ratio", "note")


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(measure, ours, baseline, ratio, note) rows of the summary table."""
    ing, q = r["ingest"], r["query"]
    cold_ratio = r.get("cold_ratio")
    out = [
        (
            "ingest (chunks/s)",
            f"{ing['chunks_per_s']:.1f}",
            f"{ing['raw_encode_chunks_per_s']:.1f}",
            f"{ing['ratio']:.2f}x",
            "",
        ),
        ("retrieve p50 (ms)", f"{q['retrieve_p50_ms']:.1f}", f"{q['raw_p50_ms']:.1f}", f"{q['ratio_p50']:.2f}x", ""),
        ("retrieve p95 (ms)", f"{q['retrieve_p95_ms']:.1f}", f"{q['raw_p95_ms']:.1f}", f"{q['ratio_p95']:.2f}x", ""),
        ("ask p50 / p95 (ms)", f"{q['ask_p50_ms']:.1f} / {q['ask_p95_ms']:.1f}", "", "", ""),
        ("no-op re-ingest (s)", f"{r['reingest_noop_s']:.2f}", "", "", f"{r['reingest_noop_embedded']} embedded"),
        (
            "one-page re-ingest (s)",
            f"{r['reingest_one_page_s']:.2f}",
            "",
            "",
            f"{r['reingest_one_page_embedded']} embedded",
        ),
        (
            "cold ask (s)",
            f"{r['cold_ask_s']:.2f}",
            f"{r['raw_cold_s']:.2f}" if r["raw_cold_s"] else "-",
            f"{cold_ratio:.2f}x" if cold_ratio else "",
            "",
        ),
        ("--help (s)", f"{r['help_s']:.2f}", f"{r['python_startup_s']:.2f}", "", "baseline: python -c pass"),
        ("peak RSS (MB)", f"{r['peak_rss_mb']:.0f}", "", "", ""),
    ]
    for s in r["scale"]:
        out.append(
            (
                f"retrieve @ {s['chunks']:,} chunks p50 / p95 (ms)",
                f"{s['retrieve_p50_ms']:.1f} / {s['retrieve_p95_ms']:.1f}",
                "",
                "",
                f"RSS {s['rss_mb']:.0f} MB",
            )
        )
    return out


def format_table(r: dict[str, Any]) -> str:
    """The results as an aligned plain-text table, with the machine they were measured on."""
    m = r["machine"]
    head = [
        f"model {r['model']} (backend {r['backend']}, batch {r['batch_size']}), {r['ingest']['chunks']} chunks, "
        f"{r['query']['n']} timed questions",
        f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, load average {m['loadavg']}",
    ]
    return "\n".join([*head, "", *aligned(HEADER, rows(r), left=(0, 4))])


def plot(r: dict[str, Any], path: Path) -> Path:
    """Retrieval latency (p50, p95) and memory against corpus size, as a PNG."""
    sizes = [s["chunks"] for s in r["scale"]]
    fig = new_figure((9, 3.8))
    left, right = fig.subplots(1, 2)
    left.plot(sizes, [s["retrieve_p50_ms"] for s in r["scale"]], marker="o", label="p50")
    left.plot(sizes, [s["retrieve_p95_ms"] for s in r["scale"]], marker="o", label="p95")
    left.axhline(100, color="grey", linestyle="--", linewidth=1, label="100 ms")
    left.set_ylabel("retrieval latency (ms)")
    right.plot(sizes, [s["rss_mb"] for s in r["scale"]], marker="o", label="RSS after queries")
    right.plot(sizes, [s["peak_rss_mb"] for s in r["scale"]], marker="o", label="peak RSS")
    right.set_ylabel("memory (MB)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the index")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle(f"atlas-qa retrieval at scale ({r['backend']}, {r['machine']['nproc']} cores)")
    return save_figure(fig, path)
