from atlas_qa.errors import QuestionError
from atlas_qa.types import Answer, Citation, Cite
from atlas_qa.ui import build_app, render_sources, respond

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)><a href='javascript:alert(3)'>x</a>"


def _answer(text: str = "Rules matter. [1]") -> Answer:
    cit = Citation(1, "p", "Page <b>T</b>", "src", "Rules", "Pal", "213-214", (Cite("Pal, 2014", EVIL),), EVIL, 0.9, 0, 5,
                   chain="Pal (2014, pp. 213-214)")
    return Answer("q", text, False, (cit,))


class FakeAtlas:
    def __init__(self, answer=None, error=None):
        self.answer, self.error = answer, error

    def ask(self, question):
        if self.error:
            raise self.error
        return self.answer


def test_sources_escape_course_html():
    md = render_sources(_answer())
    assert "<script>" not in md and "<img" not in md and "<a href" not in md
    assert "&lt;script&gt;" in md and "Pal (2014, pp. 213-214)" in md


def test_respond_appends_turns_and_shows_errors_as_text():
    history, sources, box = respond(FakeAtlas(_answer()), "What?", [])
    assert [m["role"] for m in history] == ["user", "assistant"] and history[1]["content"] == "Rules matter. [1]"
    assert "[1]" in sources and box == ""
    history, sources, _ = respond(FakeAtlas(error=QuestionError("Please type a question.")), "", history)
    assert history[-1]["content"] == "Please type a question." and sources == ""


def test_refusal_shows_closest_pages():
    refused = Answer("q", "The course material doesn't cover this.", True, (), ("m00002",))
    assert "m00002" in render_sources(refused) and "Not covered" in render_sources(refused)


def test_app_builds_without_launching():
    app = build_app(FakeAtlas(_answer()))
    assert app.title == "atlas-qa"
