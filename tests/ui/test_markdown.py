"""Markdown passages and pages as safe HTML, the highlight spans still marked (ui/markdown.py)."""

import html
import re
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from atlas_qa.loaders.markdown import parse
from atlas_qa.types import AnswerSentence, Document, Reference
from atlas_qa.ui.markdown import Mark, render_document, render_inline, render_markdown, render_passage
from atlas_qa.ui.render import Layer, highlight

DATA = Path(__file__).resolve().parents[1] / "data" / "polisci"
VOID = {"br", "hr", "img", "input", "meta", "link"}
BLOCK = {"p", "div", "li", "ul", "ol", "h2", "h3", "h4", "blockquote", "table", "tr", "th", "td", "section"}


class Tree(HTMLParser):
    """Checks the HTML is well nested and collects its visible text, its tags and the text inside <mark>s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.marked: list[str] = []
        self.words: list[str] = []  # the text with a space at each block's edge

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.words.append(" " if tag in BLOCK else "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        self.words.append(" " if tag in BLOCK else "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.words.append(data)
        if "mark" in self.stack:
            self.marked.append(data)


def tree(markup: str) -> Tree:
    t = Tree()
    t.feed(markup)
    t.close()
    assert t.stack == [], f"unclosed {t.stack}"
    return t


def md_doc(text: str, notes: dict[str, str] | None = None) -> Document:
    refs = tuple(Reference("^" + k, v) for k, v in (notes or {}).items())
    return Document("p", "P", text, "p.md", "markdown", references=refs)


# -- safety --------------------------------------------------------------------------------------------------------

EVIL = (
    "<script>alert(1)</script> **bold <img src=x onerror=alert(2)>** [a](javascript:alert(3)) "
    '[b](JaVaScRiPt:alert(4)) [c](data:text/html,<script>alert(5)</script>) <a href="javascript:alert(6)">d</a> '
    '[^x"onmouseover=alert(7)] `<svg onload=alert(8)>`'
)


def test_html_in_the_page_is_escaped_and_only_http_links_are_made():
    for out in (
        render_markdown(f"# T <b>\n\n{EVIL}\n\n- {EVIL}\n\n| h |\n|---|\n| {EVIL} |\n\nTable: {EVIL}", page=True),
        render_passage(EVIL, [(0, 40)], md_doc(EVIL)),
        render_document(md_doc(EVIL, {'x"onmouseover=alert(7)': "<i>note</i>"})),
    ):
        t = tree(out)
        names = {tag for tag, _ in t.tags}
        assert not names & {"script", "img", "svg", "iframe", "b", "i"}, names
        for _, attrs in t.tags:
            assert not any(k.startswith("on") for k in attrs), attrs
            assert not (attrs.get("href") or "").lower().startswith(("javascript", "data")), attrs
        assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
        assert "alert(3)" in "".join(t.text)  # the refused link stays readable as text
    ok = tree(render_markdown("see [the site](https://example.org/a?b=1&c=2) now"))
    link = next(attrs for tag, attrs in ok.tags if tag == "a")
    assert link["href"] == "https://example.org/a?b=1&c=2" and "noopener" in (link["rel"] or "")


def test_a_footnote_key_cannot_break_out_of_its_id():
    out = render_document(md_doc('Claim.[^a"b<c>]', {'a"b<c>': "Note."}))
    t = tree(out)
    assert {a.get("id") for tag, a in t.tags if tag == "li"} == {"fn-a-b-c-"}
    assert ("a", {"href": "#fn-a-b-c-", "id": "fnref-a-b-c-", "title": "Note."}) in t.tags


# -- Markdown ------------------------------------------------------------------------------------------------------


PAGE = """# Title

## Thomas Hobbes

Hobbes defined **socialization** as *learning*.[^4] More text.
A second line.

> **What Is a Constitution?**

*Figure: A sign. (credit: Flickr, CC BY 2.0)*

- first item
- second **item**
  continued

3. three
4. four

| Kind | Who |
|------|-----|
| Monarchy | One |

Table: Rights; Who | Civil; State; courts | Human
"""


def test_page_renders_headings_bold_lists_boxes_captions_tables_and_linked_footnotes():
    out = render_document(md_doc(PAGE, {"4": "Hobbes, Leviathan (1651)."}))
    t = tree(out)
    assert '<h2 class="aq-md-h">Title</h2>' in out and '<h3 class="aq-md-h">Thomas Hobbes</h3>' in out
    assert "<strong>socialization</strong>" in out and "<em>learning</em>" in out
    assert "More text.\nA second line." in out  # one paragraph
    assert '<blockquote class="aq-md-quote"><p><strong>What Is a Constitution?</strong></p></blockquote>' in out
    assert '<p class="aq-md-caption">Figure: A sign. (credit: Flickr, CC BY 2.0)</p>' in out
    assert "<ul><li>first item</li><li>second <strong>item</strong>\ncontinued</li></ul>" in out
    assert '<ol start="3"><li>three</li><li>four</li></ol>' in out
    assert "<thead><tr><th>Kind</th><th>Who</th></tr></thead><tbody><tr><td>Monarchy</td><td>One</td></tr>" in out
    # The corpus's flattened table: rows by " | ", cells by "; ", a short row's last cell spans the rest.
    assert '<th>Rights</th><th colspan="2">Who</th></tr></thead><tbody><tr><td>Civil</td><td>State</td>' in out
    assert '<td colspan="3">Human</td>' in out
    assert '<sup class="aq-fn"><a href="#fn-4" id="fnref-4" title="Hobbes, Leviathan (1651).">4</a></sup>' in out
    assert '<li id="fn-4" value="4">Hobbes, Leviathan (1651). <a class="aq-fn-back" href="#fnref-4"' in out
    visible = "".join(t.text)
    for raw in ("**", "[^", "##", "*Figure", "> ", "| ", "Table:"):
        assert raw not in visible, raw


def test_a_passage_shows_headings_as_strong_lines_and_unlinked_titled_markers():
    text = "## Thomas Hobbes\n\nHobbes defined **socialization**.[^4]"
    out = render_passage(text, [], md_doc(text, {"4": "Leviathan."}))
    assert '<p class="aq-md-h"><strong>Thomas Hobbes</strong></p>' in out and "<h" not in out
    assert '<sup class="aq-fn" title="Leviathan.">4</sup>' in out and "href" not in out
    assert '<p class="aq-md-h"><strong>Why C#</strong></p>' in render_passage("### Why C# ###", [], md_doc(""))


def test_a_citation_label_as_written_renders_inline():
    assert render_inline("[^7]") == '<sup class="aq-fn">7</sup>'
    assert render_inline("Borins, 2007, p. 16") == "Borins, 2007, p. 16"
    assert render_inline("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_unclosed_markup_stays_as_text():
    out = render_markdown("a ** b and *c and 5 * 3 and [^] and [x](y")
    assert "".join(tree(out).text) == "a ** b and *c and 5 * 3 and [^] and [x](y"


def test_other_formats_are_not_read_as_markdown():
    text = "Pal writes:\n\n- not a list **here**"
    doc = Document("p", "P", text, "p.txt", "concept")
    assert render_passage(text, [(0, 3)], doc) == highlight(text, [(0, 3)])
    assert render_document(doc) == html.escape(text)


def test_every_word_of_the_fixture_pages_is_shown_once_in_order():
    for path in sorted(DATA.glob("*.md")):
        doc = parse(path.read_text(encoding="utf-8"), path.stem, str(path))
        body = re.sub(r'<section class="aq-md-notes".*</section>', "", render_document(doc), flags=re.S)
        assert re.findall(r"\w+", "".join(tree(body).words)) == re.findall(r"\w+", doc.text), path.name


# -- highlight spans -----------------------------------------------------------------------------------------------


def marked(out: str) -> str:
    return "".join(tree(out).marked)


def test_a_span_crossing_bold_a_footnote_and_lines_is_marked_piece_by_piece():
    text = "Start. Politics is **who gets\nwhat**,[^2] when, how. End."
    a, b = text.index("Politics"), text.index(" End")
    out = render_passage(text, [(a, b)], md_doc(text, {"2": "Lasswell."}))
    assert marked(out) == "Politics is who gets\nwhat,2 when, how."
    assert "<strong><mark>who gets\nwhat</mark></strong>" in out
    assert '<sup class="aq-fn" title="Lasswell."><mark>2</mark></sup>' in out
    # A span that starts inside the bold term: only its visible characters are marked.
    out = render_passage(text, [(text.index("gets"), text.index(" when"))], md_doc(text))
    assert marked(out) == "gets\nwhat,2"


def test_a_span_crossing_blocks_is_closed_and_reopened_around_each_block():
    text = "## Rules\n\nFirst para ends here.\n\n- item one\n- item two\n\n| A | B |\n|---|---|\n| c | d |\n\nAfter."
    a, b = text.index("ends"), text.index("After") + 3
    out = render_passage(text, [(a, b)], md_doc(text))
    assert marked(out) == "ends here.item oneitem twoABcdAft"
    assert "<li><mark>item one</mark></li>" in out and "<td><mark>c</mark></td>" in out
    assert "<p><mark>Aft</mark>er.</p>" in out


OURS = {"div", "p", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "ul", "ol", "li", "blockquote", "table"}
OURS |= {"thead", "tbody", "tr", "th", "td", "sup", "a", "hr", "section", "mark", "span"}


@given(
    st.text(alphabet="ab *_#>|-1.;:[]^()\n<&\"'`\\/=", max_size=120),
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 120)), max_size=3),
)
def test_any_text_gives_well_nested_html_with_only_our_tags(text, spans):
    for out in (
        render_document(md_doc(text, {"1": "n", "a": "<b>"}), [Mark(a, b, "hit") for a, b in spans]),
        render_passage(text, spans, md_doc(text)),
    ):
        t = tree(out)
        assert {tag for tag, _ in t.tags} <= OURS
        assert all(not k.startswith("on") for _, attrs in t.tags for k in attrs)


def test_page_layers_keep_their_classes_and_titles():
    text = "Intro **key** term.\n\nNext para."
    layers = [Layer(0, len(text), "passage", title="Passage [1]"), Layer(6, 19, "hit", title="Quoted [1]")]
    out = render_document(md_doc(text), layers)
    assert '<span class="passage" title="Passage [1]">Intro </span>' in out
    assert '<strong><mark class="passage hit" title="Passage [1] · Quoted [1]">key</mark></strong>' in out
    assert '<span class="passage" title="Passage [1]">Next para.</span>' in out
    assert render_document(md_doc(text), [Layer(-5, 999, "hit")]).count("<mark") == 4  # clamped to the text


SAMPLE = "# H\n\nA **b** c.[^1]\n> *q* x\n\n- i\n- **j\n\nTable: a; b | c\n\nend <x>"


@given(st.lists(st.tuples(st.integers(-3, len(SAMPLE) + 3), st.integers(-3, len(SAMPLE) + 3)), max_size=4))
def test_any_spans_give_well_nested_html_and_plain_text_marks_like_highlight(spans):
    tree(render_passage(SAMPLE, spans, md_doc(SAMPLE, {"1": "n"})))
    tree(render_document(md_doc(SAMPLE, {"1": "n"}), [Mark(a, b, "hit") for a, b in spans]))
    doc = Document("p", "P", SAMPLE, "p.txt", "text")
    assert render_passage(SAMPLE, spans, doc) == highlight(SAMPLE, spans)


def test_the_app_renders_markdown_cards_and_pages():
    from atlas_qa.types import Answer, Citation, Cite
    from atlas_qa.ui import ChatTurn, Views

    from .fakes import FakeAtlas

    text = "## Rules\n\nThe **de jure** rules are written.[^4] More.\n"
    atlas = FakeAtlas()
    atlas.docs["p"] = md_doc(text, {"4": "Gable, 2021."})
    start, end = text.index("The"), text.index(" More")
    c = Citation(1, "p", "P", "p.md", "Rules", "", "", (Cite("[^4]", "Gable, 2021."),), text, 0.9, start, end)
    answer = Answer.from_sentences("q", (AnswerSentence("The de jure rules are written.", 1),), (c,))
    views = Views(atlas)
    card = views.card(0, answer, c)
    assert '<p class="aq-md-h"><strong>Rules</strong></p>' in card and "<strong><mark>de jure</mark></strong>" in card
    assert '<span class="aq-work"><sup class="aq-fn">4</sup></span>' in card
    assert "**" not in card and "[^" not in card and "##" not in card
    page = views.page([ChatTurn("q", "q", answer)], 0, 1)
    assert '<h3 class="aq-md-h"><span class="passage"' in page and '<li id="fn-4" value="4">Gable, 2021.' in page
    assert '<strong><mark class="passage hit" title="Passage [1] · Quoted in the answer [1]">de jure</mark>' in page
    assert "**" not in page and "[^" not in page
