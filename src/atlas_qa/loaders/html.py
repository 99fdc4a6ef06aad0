"""HTML pages saved from a website: the article alone, laid out as a concept page's plain text and parsed as one.

Navigation, header, footer, sidebars, comments, scripts and styles are dropped. The article's blocks become paragraphs
separated by blank lines; blockquote paragraphs keep (or get) their quote marks, so `concept.parse` finds the same
speakers, pages, nested quotations, references and metadata as in a .txt concept page. Links from the article's body
to other pages of the same site are kept as "see also" relations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from ..types import Document, Section
from . import concept
from .sections import heading_sections

VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Never text, wherever they are: code, styles, embedded objects, controls, navigation and sidebars.
NEVER = frozenset(
    "script style noscript template svg math iframe object canvas button select textarea nav aside dialog"
    " head title".split()
)
BLOCK = frozenset(
    "p div section article main header footer h1 h2 h3 h4 h5 h6 li ul ol dl dt dd blockquote pre figure figcaption"
    " table thead tbody tfoot tr address hr details summary center body".split()
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Class or id words of page furniture: comments, sharing, related posts, breadcrumbs, menus, widgets, banners.
BOILERPLATE = re.compile(
    r"(?:^|[-_])(?:comments?|respond|share|sharing|sharedaddy|social|related|relatedposts|breadcrumbs?|sidebar|widgets?"
    r"|nav|navbar|navigation|menu|cookies?|banner|advert|ads|promo|newsletter|subscribe|skip-link|screen-reader-text"
    r"|pagination|post-navigation|masthead|site-header|site-footer|colophon|toolbar)(?:$|[-_])",
    re.I,
)
CONTENT = re.compile(r"(?:^|[-_])(?:content|entry|post|article|main|body|text)(?:$|[-_])", re.I)
FILE_LINK = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|pdf|docx?|xlsx?|pptx?|zip|mp[34]|css|js)$", re.I)
SAVED_FROM = re.compile(r"saved from url=\(\d+\)(?P<url>\S+)")
MAX_DEPTH = 200  # deeper elements are flattened into their ancestor: no recursion limit on hostile markup
# Metadata the page text did not give, taken from <meta> and <time>: (our key, head key), first found wins.
HEAD_FALLBACKS = (
    ("author", "author"),
    ("date", "article:modified_time"),
    ("date", "article:published_time"),
    ("date", "time"),
    ("description", "description"),
    ("description", "og:description"),
)
QUOTE_OPEN = "“\"‘'«"
QUOTE_CLOSE = "”\"’'»"


@dataclass(eq=False)
class Node:
    """An element of the parsed page; compared by identity."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)

    def words(self) -> str:
        """Class and id of the element, for recognising page furniture."""
        return f"{self.attrs.get('class', '')} {self.attrs.get('id', '')} {self.attrs.get('role', '')}"

    def iter(self):  # type: ignore[no-untyped-def]
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()


class _TreeBuilder(HTMLParser):
    """A forgiving tree: void elements never open, a stray end tag is ignored, an end tag closes what it skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]
        self.saved_from = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open(tag, attrs, closed=True)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if not closed and tag not in VOID and len(self.stack) < MAX_DEPTH:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        if m := SAVED_FROM.search(data):
            self.saved_from = m.group("url")


def _hidden(node: Node) -> bool:
    style = node.attrs.get("style", "").replace(" ", "").lower()
    return (
        "hidden" in node.attrs
        or node.attrs.get("aria-hidden", "").lower() == "true"
        or "display:none" in style
        or "visibility:hidden" in style
    )


def _furniture(node: Node) -> bool:
    return any(BOILERPLATE.search(w) for w in node.words().split())


def _dropped(node: Node, page_chrome: bool) -> bool:
    """Never text: scripts, styles, navigation, hidden elements, furniture (and header/footer of a whole page)."""
    if node.tag in NEVER or _hidden(node) or _furniture(node):
        return True
    return page_chrome and node.tag in ("header", "footer")


def _text_len(node: Node, page_chrome: bool = False) -> int:
    n = 0
    for c in node.children:
        if isinstance(c, str):
            n += len(c.strip())
        elif not _dropped(c, page_chrome):
            n += _text_len(c, page_chrome)
    return n


def _inside_furniture(node: Node) -> bool:
    """Whether the node or an ancestor below <body> is furniture (a comment's <article>, a sidebar's <div>)."""
    p: Node | None = node
    while p is not None and p.tag not in ("body", "html", "#document"):
        if _dropped(p, False):
            return True
        p = p.parent
    return False


def find_article(doc: Node) -> tuple[Node, bool]:
    """The node that holds the article, and whether it is the whole page (so its header and footer are chrome)."""
    nodes = list(doc.iter())
    for test in (
        lambda n: n.tag == "article",
        lambda n: n.tag == "main" or n.attrs.get("role", "").lower() == "main",
        lambda n: n.tag in ("div", "section") and any(CONTENT.search(w) for w in n.words().split()),
    ):
        found = [n for n in nodes if test(n) and not _inside_furniture(n)]
        if found:
            best = max(found, key=_text_len)
            if _text_len(best) > 0:
                return best, False
    body = next((n for n in nodes if n.tag == "body"), doc)
    return body, True


@dataclass
class _Block:
    text: str
    tag: str
    quoted: bool


@dataclass
class _Walker:
    """Article -> blocks of text; links of the body (until the topics heading) as see-also candidates."""

    page_chrome: bool
    blocks: list[_Block] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    buf: list[str] = field(default_factory=list)
    block_tags: list[str] = field(default_factory=list)
    quote_depth: int = 0
    pre: int = 0
    title: str = ""
    in_link: list[str] | None = None
    links_open: bool = True

    def flush(self) -> None:
        text = "".join(self.buf)
        self.buf.clear()
        lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", ln).strip() for ln in text.split("\n")]
        text = "\n".join(ln for ln in lines if ln)
        if not text:
            return
        tag = self.block_tags[-1] if self.block_tags else "p"
        if tag == "h1" and not self.title:
            self.title = re.sub(r"\s+", " ", text)
            return
        if concept._norm(text) == concept.TOPICS:
            self.links_open = False  # topic, subject and course links are tags, not related pages
        self.blocks.append(_Block(text, tag, self.quote_depth > 0))

    def walk(self, node: Node) -> None:
        for child in node.children:
            if isinstance(child, str):
                text = child if self.pre else re.sub(r"\s+", " ", child)
                self.buf.append(text)
                if self.in_link is not None:
                    self.in_link.append(text)
                continue
            if _dropped(child, self.page_chrome):
                continue
            self.element(child)

    def element(self, node: Node) -> None:
        tag = node.tag
        if tag == "br":
            self.buf.append("\n")
            return
        if tag in ("td", "th") and "".join(self.buf).strip():
            self.buf.append(" | ")
        block = tag in BLOCK
        if block:
            self.flush()
            self.block_tags.append(tag)
        self.quote_depth += tag == "blockquote"
        self.pre += tag == "pre"
        if tag == "q":
            self.buf.append("“")
        outer_link = self.in_link
        if tag == "a" and self.links_open and "tag" not in node.attrs.get("rel", "").split():
            self.in_link = []
        self.walk(node)
        if tag == "a" and self.in_link is not None and outer_link is None:
            self.links.append((node.attrs.get("href", ""), re.sub(r"\s+", " ", "".join(self.in_link)).strip()))
            self.in_link = None
        if tag == "q":
            self.buf.append("”")
        self.quote_depth -= tag == "blockquote"
        self.pre -= tag == "pre"
        if block:
            self.flush()
            self.block_tags.pop()


def _quoted(text: str) -> str:
    """A blockquote paragraph as a concept page writes it: opening with a quote mark (not its "— Author" line)."""
    if text[:1] in QUOTE_OPEN or text[:1] in "—–―":
        return text
    return f"“{text}" if text[-1:] in QUOTE_CLOSE else f"“{text}”"


def _head(doc: Node) -> dict[str, str]:
    """<title>, canonical URL and the <meta> tags a CMS writes (description, author, dates)."""
    out: dict[str, str] = {}
    for n in doc.iter():
        if n.tag == "title" and "title" not in out:
            out["title"] = re.sub(r"\s+", " ", "".join(c for c in n.children if isinstance(c, str))).strip()
        elif n.tag == "link" and "canonical" in n.attrs.get("rel", "").lower().split():
            out.setdefault("canonical", n.attrs.get("href", ""))
        elif n.tag == "meta":
            key = (n.attrs.get("property") or n.attrs.get("name") or "").lower()
            if key and n.attrs.get("content"):
                out.setdefault(key, n.attrs["content"].strip())
    return out


def _see_also(links: list[tuple[str, str]], base: str) -> list[tuple[str, str]]:
    """Links to other pages of the same site: (text, absolute URL), each once."""
    host = urlsplit(base).netloc.lower()
    out: dict[str, str] = {}
    for href, text in links:
        if not text or not href or href.startswith(("#", "mailto:", "javascript:", "tel:", "data:")):
            continue
        url = urljoin(base, href) if base else href
        parts = urlsplit(url)
        same_site = parts.netloc.lower() == host if parts.netloc else not urlsplit(href).scheme
        if not same_site or FILE_LINK.search(parts.path) or url.split("#")[0] == base.split("#")[0]:
            continue
        out.setdefault(url.split("#")[0], text)
    return [(t, u) for u, t in out.items()]


def parse(text: str, page_id: str, source: str) -> Document:
    """Parse a saved web page; offsets in the result refer to the article's extracted text, not to the HTML."""
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    head = _head(builder.root)
    article, page_chrome = find_article(builder.root)
    walker = _Walker(page_chrome)
    walker.element(article)
    stamp = next((n.attrs["datetime"] for n in article.iter() if n.tag == "time" and n.attrs.get("datetime")), "")
    if stamp:
        head["time"] = stamp

    parts = [_quoted(b.text) if b.quoted else b.text for b in walker.blocks]
    body = "\n\n".join(parts) + "\n"
    doc = concept.parse(body, page_id, source)
    if doc.format == "text":
        doc = replace(doc, sections=_heading_sections(walker.blocks, parts))

    meta = dict(doc.metadata)
    base = head.get("canonical") or head.get("og:url") or builder.saved_from
    if base:
        meta["source_url"] = base
    related = _see_also(walker.links, base)
    if related:
        names = [s.strip() for s in meta.get("see_also", "").split(";") if s.strip()]
        names += [t for t, _ in related if t not in names]
        meta["see_also"] = "; ".join(names)
        meta["see_also_urls"] = " ".join(u for _, u in related)
    for key, meta_key in HEAD_FALLBACKS:
        if not meta.get(key) and head.get(meta_key):
            meta[key] = head[meta_key]
    title = walker.title or head.get("og:title") or re.split(r"\s+[–—|-]\s+", head.get("title", ""))[0] or doc.title
    return replace(doc, title=title, format="html", metadata={k: v for k, v in meta.items() if v})


def _heading_sections(blocks: list[_Block], parts: list[str]) -> tuple[Section, ...]:
    """Section paths from h2-h6 for an article that is not a concept page (as Markdown headings give them)."""
    levels = [HEADINGS.get(block.tag, 0) for block in blocks]
    return heading_sections(zip(levels, parts, strict=True), title=lambda text: re.sub(r"\s+", " ", text))
