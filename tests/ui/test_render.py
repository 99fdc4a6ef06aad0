"""HTML building blocks (ui/render.py): everything escaped, the spans marked."""

from atlas_qa.ui import highlight


def test_highlight_escapes_everything_then_marks_the_span():
    assert highlight("a <b>x</b> c", [(2, 10)]) == "a <mark>&lt;b&gt;x&lt;/b&gt;</mark> c"
    assert highlight("abcdef", [(1, 3), (2, 4), (5, 9)]) == "a<mark>bcd</mark>e<mark>f</mark>"
