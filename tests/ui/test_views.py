"""`Views` (ui/views.py): its default feedback store and its private export folder."""

from atlas_qa.ui import Views

from .fakes import FakeAtlas


def test_default_feedback_store_is_the_question_log_of_the_atlas_store(tmp_path):
    views = Views(FakeAtlas(tmp=tmp_path))
    assert views.feedback.log.settings.index_dir == tmp_path / "index" and views.feedback.course == "default"


def test_the_export_folder_goes_with_the_views():
    """Downloads are written to a private temp folder, removed when the app's views are (they piled up in /tmp)."""
    import gc

    views = Views(FakeAtlas())
    folder = views.export_dir()
    (folder / "feedback.csv").write_text("x", encoding="utf-8")
    assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0  # private (mkdtemp makes it 0700)
    del views
    gc.collect()
    assert not folder.exists()
