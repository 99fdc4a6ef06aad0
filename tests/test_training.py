"""The training scripts' leave-books-out protocol (training/ranker): no book is in its own training data."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "training" / "ranker"


@pytest.fixture
def scripts() -> Iterator[dict[str, ModuleType]]:
    pytest.importorskip("torch")
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield {name: importlib.import_module(name) for name in ("finetune", "tune")}
    finally:
        sys.path.remove(str(SCRIPTS))
        for name in ("finetune", "tune", "common", "features"):
            sys.modules.pop(name, None)


def test_every_book_is_reported_once_by_a_model_that_never_saw_it(scripts: dict[str, ModuleType]) -> None:
    finetune = scripts["finetune"]
    held_out = [book for fold in finetune.FOLDS for book in fold]
    assert sorted(held_out) == sorted(finetune.BOOKS)
    for f, fold in enumerate(finetune.FOLDS):
        trained_on = finetune.training_books(f)
        assert not set(fold) & set(trained_on)
        assert set(fold) | set(trained_on) == set(finetune.BOOKS)


def test_the_constant_search_samples_each_set_the_same_way_every_run(scripts: dict[str, ModuleType]) -> None:
    tune = scripts["tune"]
    data = {"questions": [{"set": s, "id": f"{s}{i}"} for s in ("student", "definition") for i in range(400)]}
    first, again = tune.sample(data, 250), tune.sample(data, 250)
    assert [r["id"] for r in first["questions"]] == [r["id"] for r in again["questions"]]
    counts = {s: sum(r["set"] == s for r in first["questions"]) for s in ("student", "definition")}
    assert counts == {"student": 250, "definition": 250}
    assert len({r["id"] for r in first["questions"]}) == 500
