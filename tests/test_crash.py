"""Crash safety: ingests killed with SIGKILL at random moments, and a state machine of ingest/edit/delete/restart."""

import json
import os
import random
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

from .conftest import DATA, ROOT

POLISCI = ROOT.parent / "shared" / "corpora" / "openstax-polisci" / "pages"
if not POLISCI.is_dir():
    POLISCI = Path(
        os.environ.get("ATLAS_QA_POLISCI", ROOT / ".." / "shared" / "corpora" / "openstax-polisci" / "pages")
    )
KILLS = int(os.environ.get("ATLAS_QA_KILLS", "20"))


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atlas_qa.cli", *args], env=env, capture_output=True, text=True)


def _state(index_dir: Path) -> tuple[list[str], dict]:
    atlas = Atlas(Settings(index_dir=index_dir, model="hash-64"))
    return sorted(c.id for c in atlas.index.chunks), atlas.index.check()


@pytest.mark.skipif(not POLISCI.is_dir(), reason="the polisci corpus (../shared) is not beside the checkout")
def test_sigkill_during_ingest_never_corrupts_the_index(tmp_path: Path):
    corpus = tmp_path / "pages"
    shutil.copytree(POLISCI, corpus)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATLAS_QA_MODEL": "hash-64"}
    reference = tmp_path / "reference"
    assert _cli("ingest", str(corpus), "--index-dir", str(reference), "--json", env=env).returncode == 0
    want_ids, _ = _state(reference)

    index_dir = tmp_path / "killed"
    t0 = time.monotonic()
    assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
    full = time.monotonic() - t0
    rng = random.Random(20261127)
    log = []
    for i in range(KILLS):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "atlas_qa.cli",
                "ingest",
                str(corpus),
                "--index-dir",
                str(index_dir),
                "--json",
                "--rebuild",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(0.3, full)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # A fresh process opens the index: its pages' chunks are all there, and queries work.
        check = _cli("index", "check", "--index-dir", str(index_dir), env=env)
        assert check.returncode == 0, (i, check.stdout, check.stderr)
        counts = json.loads(check.stdout)
        assert counts["missing"] == 0 and counts["ok"]
        if counts["chunks"]:
            ask = _cli("ask", "What is politics?", "--index-dir", str(index_dir), "--json", env=env)
            assert ask.returncode == 0, ask.stderr
            json.loads(ask.stdout)
        log.append((round(delay, 2), counts["pages"], counts["orphans"]))
        if i % 5 == 4:  # now and then, finish the job: exactly the uninterrupted state
            assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
            ids, final = _state(index_dir)
            assert ids == want_ids and final["orphans"] == 0 and final["ok"]
    assert _cli("ingest", str(corpus), "--index-dir", str(index_dir), "--json", env=env).returncode == 0
    ids, final = _state(index_dir)
    assert ids == want_ids and final == {**final, "missing": 0, "orphans": 0, "ok": True}
    # The kills landed at different stages of the ingest, not all before or after the writes.
    assert len({pages for _, pages, _ in log}) > 3, log
    print("kills (delay s, pages present, orphans):", log)


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
        self.settings = Settings(index_dir=self.root / "index", model="hash-64")
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
