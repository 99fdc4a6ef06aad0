"""The one heading-trail rule (loaders/sections.py) that every loader's section paths follow."""

from __future__ import annotations

from atlas_qa.loaders.sections import HeadingTrail, heading_sections
from atlas_qa.types import Section


def test_a_heading_closes_the_open_headings_of_its_level_or_deeper():
    trail = HeadingTrail()
    assert trail.push(2, "Rules") == "Rules"
    assert trail.push(3, "Formal rules") == "Rules > Formal rules"
    assert trail.push(4, "Laws") == "Rules > Formal rules > Laws"
    assert trail.push(3, "Informal rules") == "Rules > Informal rules"
    assert trail.push(2, "Power") == "Power" and trail.titles == ["Power"]
    trail.clear()
    assert trail.path == "" and trail.titles == []


def test_heading_sections_run_from_a_heading_to_the_next_one():
    parts = [(0, "Intro text."), (2, "Rules"), (0, "Body."), (3, "Formal  rules"), (0, "More."), (2, "Power")]
    text = "\n\n".join(t for _, t in parts)
    sections = heading_sections(parts, title=lambda t: " ".join(t.split()))
    assert [s.path for s in sections] == ["Rules", "Rules > Formal rules", "Power"]
    assert [text[s.start : s.end] for s in sections] == ["Rules\n\nBody.", "Formal  rules\n\nMore.", "Power"]
    assert heading_sections([(0, "no headings")]) == ()
    assert heading_sections([(1, "Only")]) == (Section("Only", 0, 4),)
