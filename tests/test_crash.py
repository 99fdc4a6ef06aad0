"""Crash safety: ingests killed with SIGKILL at random moments, and a state machine of ingest/edit/delete/restart."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import settings as h_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from atlas_qa.chunking import chunk_document
from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.loaders import load_corpus
from tests.embedder import HASH

from .conftest import DATA, ROOT

POLISCI = ROOT.parent / "shared" / "corpora" / "openstax-polisci" / "pages"
if not POLISCI.is_dir():
    POLISCI = Path(
        os.environ.get("ATLAS_QA_POLISCI", ROOT / ".." / "shared" / "corpora" / "openstax-polisci" / "pages")
    )
KILLS = int(os.environ.get("ATLAS_QA_KILLS", "20"))
pytestmark = pytest.mark.slow  # kill loops and a state machine: minutes; `make check` leaves them out


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atlas_qa.cli", *args], env=env, capture_output=True, text=True)


def _state(index_dir: Path) -> tuple[list[str], dict]:
    atlas = Atlas(Settings(index_dir=index_dir, model="hash-64", embedder=HASH))
    return sorted(c.id for c in atlas.index.chunks), atlas.index.check()


def _versions(tmp_path: Path, env: dict[str, str]) -> tuple[Path, dict[str, list[Path]], dict[str, list[str]]]:
    """A corpus folder and two versions of its pages (A: as published; B: nearly every chunk of every page edited),
    with the chunk ids an uninterrupted ingest of each gives."""
    corpus = tmp_path / "pages"
    versions: dict[str, list[Path]] = {"A": [], "B": []}
    for name in ("A", "B"):
        folder = tmp_path / f"version-{name}"
        shutil.copytree(POLISCI, folder)
        for page in sorted(folder.glob("*.md")):
            if name == "B":
                page.write_text(re.sub(r"\bthe\b", "the very", page.read_text(encoding="utf-8")), "utf-8")
            versions[name].append(page)
    ids = {}
    for name in versions:
        _use(corpus, versions[name])
        reference = tmp_path / f"reference-{name}"
        assert _cli("ingest", str(corpus), "--index-dir", str(reference), "--json", env=env).returncode == 0
        ids[name] = _state(reference)[0]
    return corpus, versions, ids


def _use(corpus: Path, pages: list[Path]) -> None:
    corpus.mkdir(exist_ok=True)
    for page in pages:
        shutil.copy(page, corpus / page.name)


def _kill_at_random(args: list[str], env: dict[str, str], delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas_qa.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _check_and_ask(index_dir: Path, env: dict[str, str], i: int) -> dict:
    """A fresh process opens the index: every listed chunk is there, and questions are answered."""
    check = _cli("index", "check", "--index-dir", str(index_dir), env=env)
    assert check.returncode == 0, (i, check.stdout, check.stderr)
    counts = json.loads(check.stdout)
    assert counts["missing"] == 0 and counts["ok"]
    if counts["chunks"]:
        ask = _cli("ask", "What is politics?", "--index-dir", str(index_dir), "--json", env=env)
        assert ask.returncode == 0, ask.stderr
        json.loads(ask.stdout)
    return counts


@pytest.mark.skipif(not POLISCI.is_dir(), reason="the polisci corpus (../shared) is not beside the checkout")
def test_sigkill_during_ingest_never_corrupts_the_index(tmp_path: Path):
    """Ingests that update every page in place, killed at random: each page is whole (its old or its new version)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATLAS_QA_MODEL": "hash-64"}
    corpus, versions, want = _versions(tmp_path, env)
    index_dir = tmp_path / "killed"
    _use(corpus, versions["A"])
    t0 = time.monotonic()
    assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
    full = time.monotonic() - t0
    rng = random.Random(20261127)
    log = []
    for i in range(KILLS):
        target = "AB"[(i + 1) % 2]
        _use(corpus, versions[target])
        delay = rng.uniform(0.3, full)
        _kill_at_random(["ingest", str(corpus), "--index-dir", str(index_dir), "--json"], env, delay)
        counts = _check_and_ask(index_dir, env, i)
        ids, _ = _state(index_dir)
        assert set(ids) <= set(want["A"]) | set(want["B"])
        log.append((round(delay, 2), len(set(ids) - set(want["AB"[i % 2]])), counts["orphans"]))
        if i % 5 == 4:  # now and then, finish the job: exactly the uninterrupted state
            assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
            ids, final = _state(index_dir)
            assert ids == want[target] and final["orphans"] == 0 and final["ok"]
    assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
    ids, final = _state(index_dir)
    assert ids == want[target] and final == {**final, "missing": 0, "orphans": 0, "ok": True, "clean": True}
    # The kills landed at different stages of the ingest: before, during and after the writes.
    assert len({changed for _, changed, _ in log}) >= 3, log
    print("kills (delay s, chunks of the new version, orphans):", log)


@pytest.mark.skipif(not POLISCI.is_dir(), reason="the polisci corpus (../shared) is not beside the checkout")
@pytest.mark.parametrize("command", ["rebuild", "import"])
def test_sigkill_during_rebuild_or_import_leaves_the_old_or_the_new_index(tmp_path: Path, command: str):
    """`ingest --rebuild` and `index import --force` killed at random: the index is exactly the old one or exactly
    the new one, never a part of either; `index check` reports what the kill left, and the next run removes it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATLAS_QA_MODEL": "hash-64"}
    corpus, versions, want = _versions(tmp_path, env)
    archives = {name: tmp_path / f"{name}.tar.gz" for name in want}
    for name, archive in archives.items():
        reference = str(tmp_path / f"reference-{name}")
        assert _cli("index", "export", str(archive), "--index-dir", reference, env=env).returncode == 0
    index_dir = tmp_path / "killed"

    def run(target: str) -> list[str]:
        if command == "import":
            return ["index", "import", str(archives[target]), "--force", "--index-dir", str(index_dir)]
        _use(corpus, versions[target])
        return ["ingest", str(corpus), "--index-dir", str(index_dir), "--json", "--rebuild"]

    t0 = time.monotonic()
    assert _cli(*run("A"), env=env).returncode == 0
    full = time.monotonic() - t0
    rng = random.Random(20261203)
    log = []
    current = "A"
    for i in range(KILLS):
        target = "B" if current == "A" else "A"
        delay = rng.uniform(0.3, full)
        _kill_at_random(run(target), env, delay)
        counts = _check_and_ask(index_dir, env, i)
        ids, _ = _state(index_dir)
        assert ids in (want[current], want[target]), (i, len(ids))  # whole old or whole new
        now = "old" if ids == want[current] else "new"
        if now == "old" and counts["interrupted"]:
            assert counts["leftovers"] >= 1  # the unfinished version's collections are reported
        current = current if now == "old" else target
        log.append((round(delay, 2), now, counts["interrupted"], counts["leftovers"]))
        if i % 5 == 4:
            assert _cli(*run(target), env=env).returncode == 0
            current = target
            ids, final = _state(index_dir)
            assert ids == want[target] and final["clean"], final
    ids, final = _state(index_dir)
    assert ids == want[current] and final["ok"]
    assert _cli(*run(current), env=env).returncode == 0
    assert _state(index_dir)[1]["clean"]
    # Some kills landed inside the build (the old index kept, the unfinished one reported), not all before it.
    assert any(now == "old" and interrupted for _, now, interrupted, _ in log), log
    print(f"{command} kills (delay s, index left, interrupted, leftovers):", log)


PAGES = sorted((DATA / "polisci").glob("*.md"))


class IngestMachine(RuleBasedStateMachine):
    """Random sequences of page adds, edits, deletes, process restarts and ingests keep the index equal to the
    corpus: exactly the chunk ids that chunking the current files gives (the style of Chroma's persistence tests)."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.root = Path(tempfile.mkdtemp(prefix="atlas-state-"))
        self.corpus = self.root / "corpus"
        self.corpus.mkdir()
        self.settings = Settings(index_dir=self.root / "index", model="hash-64", embedder=HASH)
        self.atlas = Atlas(self.settings)
        self.synced = True

    @rule(page=st.sampled_from(PAGES))
    def add_or_restore(self, page: Path) -> None:
        shutil.copy(page, self.corpus / page.name)
        self.synced = False

    @rule(data=st.data(), words=st.text(alphabet="abcdefgh ", min_size=1, max_size=40))
    def edit(self, data: st.DataObject, words: str) -> None:
        files = sorted(self.corpus.glob("*.md"))
        if files:
            f = data.draw(st.sampled_from(files))
            f.write_text(f.read_text(encoding="utf-8") + f"\n\nAdded paragraph {words}.\n", encoding="utf-8")
            self.synced = False

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        files = sorted(self.corpus.glob("*.md"))
        if files:
            data.draw(st.sampled_from(files)).unlink()
            self.synced = False

    @rule()
    def restart(self) -> None:
        self.atlas = Atlas(self.settings)

    @rule()
    def ingest(self) -> None:
        self.atlas.ingest([self.corpus])
        self.synced = True

    @invariant()
    def index_matches_corpus(self) -> None:
        if not self.synced:
            return
        want = sorted(
            c.id
            for d in load_corpus([self.corpus]).documents
            for c in chunk_document(d, self.settings.chunk_tokens, self.atlas.embedder.fits_all)
        )
        assert sorted(c.id for c in self.atlas.index.chunks) == want
        check = self.atlas.index.check()
        assert check["ok"] and check["orphans"] == 0

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


TestIngestStateMachine = IngestMachine.TestCase
TestIngestStateMachine.settings = h_settings(max_examples=15, stateful_step_count=12, deadline=None)
