"""Evaluation output: JSON, aligned text tables, plots, and CSV files safe to open in a spreadsheet.

The table, figure and CSV helpers are shared by every report of the project (evaluations, the benchmark harness,
feedback and attribution exports).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import AtlasError
from .metrics import RetrieverReport


def aligned(header: Sequence[str], rows: Iterable[Sequence[str]], left: Iterable[int] = (0,)) -> list[str]:
    """Lines of a plain-text table: the header, a rule, the rows; columns in `left` left-aligned, others right."""
    rows = [list(r) for r in rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lefts = set(left)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in lefts else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def new_figure(size: tuple[float, float]) -> Any:
    """A bare matplotlib Figure on the Agg canvas: no pyplot, so no global backend or GUI state is touched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise AtlasError("plotting needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=size, dpi=120)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path) -> Path:
    """Lay the figure out and write it as a PNG at `path` (its folder made if needed)."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will show as text, never run as a formula ("=HYPERLINK(...)" gets a leading ')."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A UTF-8 CSV file at `path`: the header, then the rows, every cell through `safe_cell`."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([safe_cell(v) for v in row] for row in rows)
    return Path(path)


def report_json(reports: Sequence[RetrieverReport]) -> dict[str, Any]:
    """{"n": N, "retrievers": {name: {metrics..., "p50_ms", "p95_ms", "by_kind": {kind: {metrics...}}}}}."""
    return {
        "n": max((r.n for r in reports), default=0),
        "retrievers": {
            r.name: {
                **r.metrics,
                "p50_ms": r.p50_ms,
                "p95_ms": r.p95_ms,
                "by_kind": {kind: dict(m) for kind, m in r.by_kind.items()},
            }
            for r in reports
        },
    }


def _label(key: str) -> str:
    name, _, k = key.partition("@")
    return {"recall": "R", "mrr": "MRR", "ndcg": "nDCG"}.get(name, name) + "@" + k


def format_table(reports: Sequence[RetrieverReport]) -> str:
    """An aligned plain-text table, one row per retriever, then one line per retriever and question kind."""
    if not reports:
        return "(no results)"
    keys = list(reports[0].metrics)
    header = ["retriever", *(_label(k) for k in keys), "p50 ms"]
    rows = [[r.name, *(f"{r.metrics.get(k, 0.0):.4f}" for k in keys), f"{r.p50_ms:.1f}"] for r in reports]
    out = [f"n = {reports[0].n} questions", *aligned(header, rows)]
    kind_lines = [
        f"  {r.name} / {kind} (n={r.kind_n.get(kind, '?')}): "
        + "  ".join(f"{_label(k)} {m.get(k, 0.0):.4f}" for k in keys)
        for r in reports
        for kind, m in r.by_kind.items()
    ]
    if kind_lines:
        out += ["", "by kind:", *kind_lines]
    return "\n".join(out)


def plot_recall(reports: Sequence[RetrieverReport], path: Path) -> Path:
    """Draw recall@k against k, one line per retriever, and save it as a PNG at `path`."""
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    top = 1
    for r in reports:
        ks = sorted(r.curve)
        ax.plot(ks, [r.curve[k] for k in ks], marker="o", label=r.name)
        top = max(top, *ks) if ks else top
    ax.set_xlabel("k (pages retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_xticks(range(1, top + 1))
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    n = reports[0].n if reports else 0
    ax.set_title(f"Recall@k ({n} questions)")
    if reports:
        ax.legend(loc="lower right")
    return save_figure(fig, path)
