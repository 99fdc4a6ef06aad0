"""Walking and loading the corpus (issue 17): "cannot read" is never "deleted", any file name loads, and the work
and memory of one file stay bounded by its size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from atlas_qa import chunking, loaders
from atlas_qa.chunking import chunk_document, count_tokens
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.loaders import load_corpus
from atlas_qa.types import Document
from tests.embedder import HASH


def _cli_without_root_powers(*args: str) -> subprocess.CompletedProcess[str]:
    """`atlas-qa ARGS` in a child process for which file permissions hold: as root, the child loses the
    capabilities that let root read and write anything (so `chmod 000` means what it says, as for any user)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    src = str(Path(chunking.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ["PYTHONPATH"]]), "HF_HUB_OFFLINE": "1"}
    cmd = [*prefix, sys.executable, "-m", "atlas_qa.cli", *args, "--model", "hash-64"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def _ingest_without_root_powers(corpus: Path, index_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return _cli_without_root_powers("ingest", str(corpus), "--index-dir", str(index_dir), "--json", *flags)


@pytest.mark.slow  # three ingests in child processes per case
@pytest.mark.parametrize("blocked", ["polisci", "polisci/m00003.md", "."])
def test_an_unreadable_folder_or_file_is_skipped_and_its_pages_are_kept(corpus: Path, tmp_path: Path, blocked: str):
    index_dir = tmp_path / "index"
    first = _ingest_without_root_powers(corpus, index_dir)
    assert first.returncode == 0, first.stderr
    pages = {p["page_id"] for p in Atlas(Settings(index_dir=index_dir, model="hash-64", embedder=HASH)).index.pages()}
    assert len(pages) == 4
    target = (corpus / blocked).resolve()
    target.chmod(0)
    try:
        run = _ingest_without_root_powers(corpus, index_dir)
        strict = _ingest_without_root_powers(corpus, index_dir, "--strict")
        rebuilt = _ingest_without_root_powers(corpus, index_dir, "--rebuild")  # keeps them too (from the index)
    finally:
        target.chmod(0o755)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["removed"] == 0 and report["chunks"] == json.loads(first.stdout)["chunks"]
    assert report["skipped"] == [{"path": str(target), "reason": "cannot read (permission denied)"}]
    assert strict.returncode == 3
    assert rebuilt.returncode == 0 and json.loads(rebuilt.stdout)["chunks"] == report["chunks"], rebuilt.stderr
    kept = Atlas(Settings(index_dir=index_dir, model="hash-64", embedder=HASH))
    assert {p["page_id"] for p in kept.index.pages()} == pages and kept.index.check()["ok"]
    # Readable again: nothing to redo.
    again = json.loads(_ingest_without_root_powers(corpus, index_dir).stdout)
    assert (again["removed"], again["embedded"], again["unchanged"], again["skipped"]) == (0, 0, 4, [])


@pytest.mark.slow  # ingests in child processes
def test_a_read_only_index_folder_gives_one_line_and_exit_2(corpus: Path, tmp_path: Path):
    index_dir = tmp_path / "index"
    assert _ingest_without_root_powers(corpus, index_dir).returncode == 0
    modes = {p: p.stat().st_mode for p in [index_dir, *index_dir.rglob("*")]}
    for path in modes:
        path.chmod(path.stat().st_mode & 0o555)
    try:
        runs = [
            _cli_without_root_powers("ask", "What are de facto rules?", "--index-dir", str(index_dir)),
            _ingest_without_root_powers(corpus, index_dir),
            _cli_without_root_powers("index", "check", "--index-dir", str(index_dir)),
            _cli_without_root_powers("ask", "What are de facto rules?", "--index-dir", str(index_dir / "new")),
        ]
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    for run in runs:
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert run.stderr.startswith("atlas-qa: The index folder") and "cannot be written" in run.stderr


def test_a_file_name_that_is_not_utf8_loads_under_a_safe_id(corpus: Path, hash_settings: Settings, capsys):
    from atlas_qa.cli import main

    name = os.fsdecode(b"bad\xff.md")  # what Python makes of the name: a lone surrogate that Chroma cannot store
    bad = corpus / "polisci" / name
    shutil.copy(corpus / "polisci" / "m00002.md", bad)
    bad.write_text(bad.read_text(encoding="utf-8").replace("page_id: m00002", "x: y"), encoding="utf-8")
    args = ["ingest", str(corpus), "--index-dir", str(hash_settings.index_dir), "--model", "hash-64", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 5 and report["skipped"] == []
    atlas = Atlas(hash_settings)
    page = next(p for p in atlas.index.pages() if "bad" in p["page_id"])
    assert page["page_id"] == "polisci/bad\\xff.md" and page["source"].endswith("polisci/bad\\xff.md")
    assert atlas.index.document(page["page_id"]).text == atlas.index.document("m00002").text
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["unchanged"] == 5  # a stable id
    bad.unlink()
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["removed"] == 1


class _CountingEncoding:
    """The cl100k encoding, counting how many characters it is asked to tokenize."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real, self.chars = real, 0

    def encode(self, text: str, **kw):  # type: ignore[no-untyped-def]
        self.chars += len(text)
        return self.real.encode(text, **kw)

    def decode_bytes(self, tokens):  # type: ignore[no-untyped-def]
        return self.real.decode_bytes(tokens)


def test_a_long_one_line_page_is_split_in_linear_work(monkeypatch: pytest.MonkeyPatch):
    words = "the state government policy citizens democracy rules power public institutions of".split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(300_000))  # ~2 MB, one line, no sentence end
    counting = _CountingEncoding(chunking._encoding())
    monkeypatch.setattr(chunking, "_encoding", lambda: counting)
    doc = Document(page_id="long", title="Long", text=text, source="long.md", format="md")
    chunks = chunk_document(doc, 200)
    # Each character is tokenized a bounded number of times (the old splitter re-read the whole remainder at
    # every step: thousands of times the text).
    assert counting.chars <= 5 * len(text), counting.chars / len(text)
    assert all(count_tokens(c.text) <= 200 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_a_file_whose_text_is_over_the_limit_is_skipped_with_the_reason(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_TEXT_CHARS", 30_000)
    (tmp_path / "long.md").write_text("# Long\n\n" + "Words of a page. " * 4000, encoding="utf-8")
    (tmp_path / "ok.md").write_text("# Fine\n\nA short page.\n", encoding="utf-8")
    import docx

    document = docx.Document()
    for _ in range(60):  # 45,000 characters in few paragraphs: python-docx looks up each paragraph's style (~3 ms)
        document.add_paragraph(" ".join(["Words of a handout paragraph."] * 25))
    document.save(str(tmp_path / "long.docx"))
    result = load_corpus([tmp_path])
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons == {
        "long.md": "its text is longer than 30,000 characters",
        "long.docx": "its text is longer than 30,000 characters",
    }
    assert [d.page_id for d in result.documents] == ["ok.md"]


def test_a_docx_whose_text_parts_unpack_too_far_is_skipped_before_parsing(tmp_path: Path):
    import docx

    from atlas_qa.loaders.docx import MAX_XML

    small = tmp_path / "small.docx"
    docx.Document().save(str(small))
    paragraph = b"<w:p><w:r><w:t>" + b"bomb " * 200 + b"</w:t></w:r></w:p>"
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>", 1)
                data = head + b"<w:body>" + paragraph * (MAX_XML // len(paragraph) + 1) + tail
            dst.writestr(item, data)
    assert bomb.stat().st_size < MAX_XML // 100  # small on disk, huge once unpacked
    result = load_corpus([bomb])
    assert [s.reason for s in result.skipped] == [f"its XML parts unpack to more than {MAX_XML >> 20} MB"]


def test_two_files_never_share_a_page_id(corpus: Path, hash_settings: Settings, tmp_path: Path, capsys):
    """A name that is not UTF-8 (`caf\\xe9.md`, byte E9) and a file literally named `caf\\xe9.md` are two pages; a
    file from another folder whose page id is taken by a page whose file is still there is refused, naming both."""
    from atlas_qa.cli import main

    folder = corpus / "polisci"
    (folder / os.fsdecode(b"caf\xe9.md")).write_text("# Espresso\n\nEspresso is brewed under pressure.\n")
    (folder / "caf\\xe9.md").write_text("# Tea\n\nTea leaves are steeped in hot water.\n")
    args = ["--index-dir", str(hash_settings.index_dir), "--model", "hash-64", "--json"]
    assert main(["ingest", str(corpus), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 6 and report["skipped"] == []
    atlas = Atlas(hash_settings)
    titles = {p["page_id"]: p["title"] for p in atlas.index.pages() if "caf" in p["page_id"]}
    assert titles == {"polisci/caf\\xe9.md": "Espresso", "polisci/caf\\\\xe9.md": "Tea"}

    other = tmp_path / "elsewhere"
    other.mkdir()
    original = folder / "m00003.md"
    (other / "copy.md").write_text(original.read_text(encoding="utf-8").replace("Public Policy", "Hijacked Policy"))
    assert main(["ingest", str(other), "--strict", *args]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["updated"] == 0 and report["added"] == 0
    [skipped] = report["skipped"]
    assert skipped["path"] == str(other / "copy.md")
    assert "page id 'm00003'" in skipped["reason"] and str(original.resolve()) in skipped["reason"]
    assert Atlas(hash_settings).index.document("m00003").title.startswith("Public Policy")  # the first one stays
    original.unlink()  # the page's file is gone (moved): the other file may take its id
    assert main(["ingest", str(other), *args]) == 0
    assert json.loads(capsys.readouterr().out)["updated"] == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`atlas-qa ARGS --model hash-64` in a child process (a fresh Chroma client each time)."""
    src = str(Path(chunking.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ["PYTHONPATH"]]), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "atlas_qa.cli", *args, "--model", "hash-64"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 24 MB tmpfs at tmp_path/disk (root only); unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow  # ~10 s filling a disk: `make test`, not the quick loop
def test_a_full_disk_stops_an_ingest_with_one_sentence_and_nothing_half_written(small_disk: Path, tmp_path: Path):
    """A corpus that needs more room than the disk has: the ingest stops before a write would fill it (exit 2, one
    sentence), every page written is whole; with the disk then filled to the last byte, `index check` and `ask` say
    so in one sentence; once space is freed, the index is clean."""
    import random

    rng = random.Random(1)
    words = "state government policy citizens democracy rules power public law court vote party election".split()
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(150):  # ~900 chunks, ~10 MB in Chroma: more than the 8 MB the disk has above LOW_SPACE
        paragraphs = (" ".join(rng.choice(words) for _ in range(60)).capitalize() + "." for _ in range(12))
        (corpus / f"p{i:03}.md").write_text(f"# Page {i}\n\n" + "\n\n".join(paragraphs) + "\n")
    index = ["--index-dir", str(small_disk / "index")]
    run = _cli("ingest", str(corpus), *index, "--json")
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("atlas-qa: The disk holding the index folder") and "MB free" in run.stderr
    check = _cli("index", "check", *index)
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["clean"] and 0 < report["pages"] < 150, report  # whole pages only
    # Another program fills the disk to the last byte. Unbuffered: a buffered file keeps the tail of a short write
    # and raises "No space left" again when it is closed (the test failed so whenever the free space left a tail).
    with open(small_disk / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass
    for args in (("index", "check", *index), ("ask", "What is the state?", *index)):
        done = _cli(*args)
        assert "Traceback" not in done.stderr and done.returncode in (0, 2), done.stderr
        assert done.returncode == 0 or ("is full" in done.stderr and done.stderr.count("\n") == 1), done.stderr
    (small_disk / "filler").unlink()
    check = _cli("index", "check", *index)
    assert check.returncode == 0 and json.loads(check.stdout) == report, check.stderr
    assert _cli("ask", "What is the state?", *index).returncode == 0


def test_a_page_over_the_page_limit_is_skipped_with_a_one_line_reason(
    corpus: Path, tmp_path: Path, monkeypatch, capsys
):
    """`ATLAS_QA_MAX_PAGE_CHARS` (default 4,000,000 characters) bounds the work one page makes; a bigger page is
    skipped with the reason, the rest indexed."""
    from atlas_qa.cli import main

    assert Settings().max_page_chars == 4_000_000
    big = corpus / "polisci" / "big.md"
    big.write_text("# Big\n\n" + "words " * 40_000, encoding="utf-8")
    args = ["ingest", str(corpus), "--index-dir", str(tmp_path / "index"), "--model", "hash-64", "--json"]
    monkeypatch.setenv("ATLAS_QA_MAX_PAGE_CHARS", "100000")
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 4 and report["skipped"] == [
        {"path": str(big), "reason": "its text is over the page limit of 100,000 characters (ATLAS_QA_MAX_PAGE_CHARS)"}
    ]
    monkeypatch.delenv("ATLAS_QA_MAX_PAGE_CHARS")
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 1  # under the default limit: indexed


_BOMB_CHILD = """
import json, re, sys
from pathlib import Path
from atlas_qa.loaders import load_corpus
reasons = [s.reason for s in load_corpus([Path(sys.argv[1])]).skipped]
peak = int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024  # this process's
print(json.dumps({"reasons": reasons, "peak_mb": peak}))
"""


def _docx_with(tmp_path: Path, name: str, part: str, size: int, stated: int | None = None) -> Path:
    """A small .docx whose `part` holds `size` bytes (spaces after its XML), its zip headers stating `stated` bytes
    (default: the truth). Written in pieces: the file stays small, the part unpacks to `size`."""
    import struct

    import docx

    small = tmp_path / f"{name}-small.docx"
    docx.Document().save(str(small))
    bomb = tmp_path / f"{name}.docx"
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename != part:
                dst.writestr(item, data)
                continue
            info = zipfile.ZipInfo(part)
            info.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(info, "w") as out:
                out.write(data)
                for _ in range((size - len(data)) // 1_048_576):
                    out.write(b" " * 1_048_576)
    if stated is not None:  # under-state the part's size in its local and central headers
        raw = bytearray(bomb.read_bytes())
        name_bytes = part.encode()
        for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            start = raw.find(signature)
            while start >= 0:
                name_at = start + (30 if signature == b"PK\x03\x04" else 46)
                if raw[name_at : name_at + len(name_bytes)] == name_bytes:
                    raw[start + at : start + at + 4] = struct.pack("<I", stated)
                start = raw.find(signature, start + 4)
        bomb.write_bytes(bytes(raw))
    return bomb


@pytest.mark.parametrize(
    "part,size,stated",
    [("docProps/core.xml", 120 * 1_048_576, None), ("word/document.xml", 600 * 1_048_576, 4096)],
    ids=["core-properties-bomb", "understated-header"],
)
def test_docx_parts_are_capped_by_the_bytes_they_unpack_to(tmp_path: Path, part: str, size: int, stated: int | None):
    """A part that unpacks far (core properties of 120 MB), or whose headers under-state it (600 MB said to be
    4 KB): skipped with the reason, read in small pieces so memory stays bounded."""
    bomb = _docx_with(tmp_path, "bomb", part, size, stated)
    assert bomb.stat().st_size < 2_000_000
    src = str(Path(chunking.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ["PYTHONPATH"]])}
    run = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(bomb)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["reasons"] == ["its XML parts unpack to more than 48 MB"] and got["peak_mb"] < 100, got
