"""Fixtures of the loader tests: a PDF and a Word file built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_qa.loaders import pdf

from .builders import make_docx, make_pdf


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "public-policy.pdf")


@pytest.fixture(scope="module")
def pdf_doc(pdf_file: Path):  # type: ignore[no-untyped-def]
    return pdf.parse_file(pdf_file, "public-policy.pdf", str(pdf_file))


@pytest.fixture(scope="module")
def docx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_docx(tmp_path_factory.mktemp("docx") / "scientific-study.docx")
