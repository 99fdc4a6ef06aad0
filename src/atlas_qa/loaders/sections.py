"""Heading trail -> section path, the one rule every loader follows: a heading of level L closes the open headings of
level L or deeper, and the section path is the open headings' titles joined by " > " ("Rules > Formal rules")."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..types import Section

SEPARATOR = " > "


class HeadingTrail:
    """The headings open at a point of a page, outermost first."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> str:
        """Open a heading (closing those of `level` or deeper) and return the section path now."""
        self._open = [(lv, t) for lv, t in self._open if lv < level] + [(level, title)]
        return self.path

    def clear(self) -> None:
        self._open = []

    @property
    def titles(self) -> list[str]:
        return [t for _, t in self._open]

    @property
    def path(self) -> str:
        return SEPARATOR.join(self.titles)


def heading_sections(
    parts: Iterable[tuple[int, str]], title: Callable[[str], str] = lambda text: text
) -> tuple[Section, ...]:
    """The sections of a text made of `parts` joined by blank lines ("\\n\\n").

    Each part is (heading level, text), level 0 for body text; a heading's section runs from its start to the start
    of the next heading (its separator excluded) or the end. `title` turns a heading's text into its path title.
    """
    sections: list[Section] = []
    trail = HeadingTrail()
    open_at: tuple[str, int] | None = None
    pos = 0
    for level, text in parts:
        if level > 0:
            if open_at is not None:
                sections.append(Section(open_at[0], open_at[1], pos - 2))
            open_at = (trail.push(level, title(text)), pos)
        pos += len(text) + 2
    if open_at is not None:
        sections.append(Section(open_at[0], open_at[1], pos - 2))
    return tuple(sections)
