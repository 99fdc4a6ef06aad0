import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_qa.cli import main
from atlas_qa.config import Settings

from .conftest import ROOT


def test_help_imports_nothing_heavy():
    code = (
        "import sys\nfrom atlas_qa.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'gradio', 'numpy') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_ingest_json_shape_and_noop(corpus: Path, tmp_path: Path, capsys):
    args = ["ingest", str(corpus), "--index-dir", str(tmp_path / "i"), "--model", "hash-64", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) == {
        "added",
        "updated",
        "removed",
        "unchanged",
        "chunks",
        "embedded",
        "skipped",
        "by_format",
        "planted",
    }
    assert first["by_format"] == {"txt": {"loaded": 1, "skipped": 0}, "md": {"loaded": 3, "skipped": 0}}
    assert first["added"] == 4 and first["chunks"] > 0
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["embedded"], again["unchanged"], again["added"]) == (0, 4, 0)


def test_strict_ingest_fails_on_a_skipped_file(corpus: Path, tmp_path: Path, capsys):
    (corpus / "broken.md").write_text("---\ntitle: [x\n---\n")
    args = ["ingest", str(corpus), "--index-dir", str(tmp_path / "i"), "--model", "hash-64", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(s["path"]).name for s in out["skipped"]] == ["broken.md"]
    assert main([*args, "--strict"]) == 3


def test_ask_json_shape(corpus: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ATLAS_QA_REFUSE_BELOW", "0")
    index = ["--index-dir", str(tmp_path / "i"), "--model", "hash-64"]
    main(["ingest", str(corpus), *index, "--json"])
    capsys.readouterr()
    assert main(["ask", "What are de facto rules?", *index, "--json", "--k", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"question", "answer", "refused", "citations"} <= set(out)
    assert len(out["citations"]) == 3
    keys = {"n", "page_id", "title", "source", "section", "speaker", "pages", "cites", "text", "score"}
    assert keys <= set(out["citations"][0])


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys):
    assert main(["ask", "anything", "--index-dir", str(tmp_path / "empty"), "--model", "hash-64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("atlas-qa: ") and "ingest" in err and len(err.strip().splitlines()) == 1
    assert main(["ask", "   ", "--model", "hash-64"]) == 2


def test_environment_defaults_and_flags_win(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ATLAS_QA_K", "7")
    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("ATLAS_QA_CACHE_DIR")
    monkeypatch.delenv("ATLAS_QA_EMBEDDER")
    assert Settings.from_env().k == 7
    assert Settings.from_env(k=2, index_dir=tmp_path / "flag") == Settings(k=2, index_dir=tmp_path / "flag")


def test_app_py_is_the_cli_serve_command():
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--no-ingest" in done.stdout and "--backend" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--port", "x"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "invalid int value" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # three CLI runs in child processes
def test_chat_reads_piped_questions_keeps_the_conversation_and_says_what_it_searched(corpus: Path, tmp_path: Path):
    env = {**os.environ, "ATLAS_QA_INDEX_DIR": str(tmp_path / "i"), "ATLAS_QA_MODEL": "hash-64"}
    env["ATLAS_QA_REFUSE_BELOW"] = "0"
    cli = [sys.executable, "-m", "atlas_qa.cli"]
    subprocess.run([*cli, "ingest", str(corpus), "--json"], env=env, capture_output=True, check=True, timeout=120)
    lines = "What are de jure rules?\n\n" + "x" * 2000 + "\nWho enforces them?\nexit\nWhat is power?\n"
    done = subprocess.run([*cli, "chat", "--json"], input=lines, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(x) for x in done.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["What are de jure rules?", "Who enforces them?"]  # exit ends it
    assert answers[1]["searched"] == "Who enforces de jure rules?" and answers[0]["searched"] == answers[0]["question"]
    assert "limit is 1,000" in done.stderr  # a bad question is reported and the session goes on
    piped = "What are de jure rules?\nWho enforces them?\n"
    text = subprocess.run([*cli, "chat"], input=piped, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "Searched: Who enforces de jure rules?" in text.stdout
    assert text.stdout.count("Searched:") == 1 and "[1]" in text.stdout  # EOF ends it too
