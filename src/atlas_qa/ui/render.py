"""HTML building blocks: escaping, marked spans, layered page text, tiles and tables. Pure functions, no Gradio.

Everything shown from the course material is HTML-escaped here before it reaches the browser, and the only markup
added is ours, so HTML or script inside a page is shown as text and never runs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from ..explain import merge_spans


def esc(text: object) -> str:
    """Course text as safe HTML text: every <, >, &, and quote escaped."""
    return html.escape(str(text), quote=True)


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` HTML-escaped, with each span (offsets into `text`) wrapped in <mark>."""
    out, pos = [], 0
    for a, b in merge_spans([(max(0, a), min(len(text), b)) for a, b in spans]):
        out += [esc(text[pos:a]), "<mark>", esc(text[a:b]), "</mark>"]
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class Layer:
    """A span of a page to show: a CSS class, an optional tag shown where it starts and a tooltip."""

    start: int
    end: int
    cls: str
    tag: str = ""
    title: str = ""


def render_layers(text: str, layers: Sequence[Layer]) -> str:
    """`text` HTML-escaped, each stretch wrapped in a <span> with the classes of the layers over it (overlaps allowed);
    a layer with the class "hit" makes its stretches <mark>s."""
    layers = [ly for ly in layers if 0 <= ly.start < ly.end <= len(text)]
    cuts = sorted({0, len(text), *(ly.start for ly in layers), *(ly.end for ly in layers)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        out += [f'<span class="aq-tag {esc(ly.cls)}">{esc(ly.tag)}</span>' for ly in layers if ly.start == a and ly.tag]
        over = [ly for ly in layers if ly.start <= a and b <= ly.end]
        piece = esc(text[a:b])
        if not over:
            out.append(piece)
            continue
        classes = " ".join(dict.fromkeys(ly.cls for ly in over))
        titles = " · ".join(dict.fromkeys(ly.title for ly in over if ly.title))
        tag = "mark" if any(ly.cls == "hit" for ly in over) else "span"
        title = f' title="{esc(titles)}"' if titles else ""
        out.append(f'<{tag} class="{esc(classes)}"{title}>{piece}</{tag}>')
    return "".join(out)


def tiles(items: Sequence[tuple[str, object]], bad: Sequence[tuple[str, int]] = ()) -> str:
    """Big numbers with a caption; a `bad` tile turns red when its number is not 0."""
    cells = [(name, value, "") for name, value in items] + [
        (name, value, " aq-tile-bad" if value else "") for name, value in bad
    ]
    return (
        '<div class="aq-tiles">'
        + "".join(
            f'<div class="aq-tile{cls}"><div class="aq-tile-value">{esc(value)}</div>'
            f'<div class="aq-tile-name">{esc(name)}</div></div>'
            for name, value, cls in cells
        )
        + "</div>"
    )


def flag(text: str) -> str:
    return f' <span class="aq-flag">{esc(text)}</span>'


def shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def table(title: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    """A titled HTML table of already-rendered rows, or "None found."."""
    if not rows:
        return f'<h4>{esc(title)}</h4><div class="aq-sub">None found.</div>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (
        f'<h4>{esc(title)} <span class="aq-count">{len(rows)}</span></h4>'
        f'<div class="aq-table-wrap" tabindex="0" role="region" aria-label="{esc(title)}">'
        f'<table class="aq-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def when(ts: float) -> str:
    return time.strftime("%d %b %Y, %H:%M", time.localtime(ts))


def asset(name: str) -> str:
    """One of the app's look-and-behaviour files (CSS, the panels' JavaScript), shipped in `atlas_qa/ui/assets/`."""
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")
