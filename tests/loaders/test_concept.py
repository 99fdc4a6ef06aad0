"""Concept pages, the course's .txt format (loaders/concept.py)."""

from __future__ import annotations

from atlas_qa.loaders import concept

from ..conftest import SEED
from .builders import seed_doc


def test_concept_page_parts():
    doc = seed_doc()
    assert doc.title == "Digital technology and service delivery"
    assert doc.metadata["course"] == "Atlas107"
    assert doc.metadata["subject"] == "Implementation and Delivery"
    assert doc.metadata["topic"] == "Promoting Innovation and Driving Change (core topic)"
    assert doc.metadata["author"] == "Ian Clark"
    assert doc.metadata["date"] == "12 April 2017"
    assert doc.metadata["see_also"] == "New Public Management"
    assert [r.authors[-1] for r in doc.references] == ["Pal", "Borins", "Dunleavy", "Fountain", "Williams"]
    assert [r.year for r in doc.references] == ["2014", "2007", "2005", "2001", "2006"]


def test_concept_quotations_and_nesting():
    doc = seed_doc()
    pal, borins = doc.quotations
    assert (pal.speaker, pal.pages) == ("Pal", "213-214")
    assert doc.text[pal.start :].startswith("“What has stimulated new thinking")
    assert doc.text[: pal.end].endswith("wider constituencies of stakeholders.”")
    assert (borins.speaker, borins.pages) == ("Borins", "16")
    assert pal.start < borins.start < borins.end < pal.end
    assert doc.text[borins.start :].startswith("“The most significant change")
    assert doc.text[: borins.end].endswith("(Borins, 2007, p. 16)")


def test_hash_like_file_name_gets_title_from_description():
    doc = concept.parse(SEED.read_text(encoding="utf-8"), "000_e598dc106ca25eb1.txt", "x")
    assert "digital technology" in doc.title.lower()
    assert "e598dc" not in doc.title
