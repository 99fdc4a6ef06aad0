"""The Ask tab's wiring (ui/ask_tab.py): a click in the sources panel, through Gradio's event data."""

from atlas_qa.ui import ChatTurn, build_app

from .fakes import FakeAtlas, fake_answer


def test_a_click_in_the_sources_panel_opens_the_page_through_gradios_event_data(tmp_path):
    """sources.js sends {"open": "t:n"} or {"cite": "src-t-n"}; the callback reads it as an EventData subclass
    (as Gradio's SelectData), not through Gradio's private `_data`."""
    app = build_app(FakeAtlas(fake_answer(), tmp=tmp_path))
    ids = {block._id: getattr(block, "elem_id", None) for block in app.blocks.values()}
    fn = next(
        f.fn for f in app.fns.values() if any(ids.get(getattr(t, "_id", t)) == "aq-sources" for t, _ in f.targets)
    )
    click = fn.__annotations__["evt"]
    turns = [ChatTurn("q", "q", fake_answer())]
    _, side, page = fn(turns, click(None, {"open": "0:1"}))
    assert side.selected == "page" and "aq-pageview" in page and "Rules matter a lot." in page
    sources, side, _ = fn(turns, click(None, {"cite": "src-0-1"}))
    assert side.selected == "sources" and 'id="src-0-1"' in sources
    assert all(type(x).__name__ == "SkipValue" or x is not None for x in fn(turns, click(None, None)))
