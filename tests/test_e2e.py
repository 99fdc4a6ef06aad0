"""End to end with the real MiniLM model (from the installed package, offline) and a real Chroma store."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_qa.chunking import count_tokens
from atlas_qa.cli import answer_json

from .conftest import BORINS_QUESTION, DATA, ROOT

pytestmark = pytest.mark.e2e


def test_borins_question_cites_pal_and_borins(real_atlas):
    out = answer_json(real_atlas.ask(BORINS_QUESTION))
    assert not out["refused"]
    first = out["citations"][0]
    assert first["page_id"] == "atlas107/digital-technology-and-service-delivery.txt"
    assert (first["speaker"], first["pages"]) == ("Pal", "213-214")
    borins = [c for c in first["cites"] if c["label"] == "Borins, 2007, p. 16"]
    assert borins and borins[0]["reference"].startswith("Borins, S. (2007). Conceptual framework.")
    assert first["chain"] == "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"
    assert "consolidates many common functions" in out["answer"]
    assert "[1]" in out["answer"]


def test_no_chunk_exceeds_the_model_window(real_atlas):
    embedder = real_atlas.embedder
    chunks = real_atlas.index.chunks
    assert len(chunks) > 50
    for c in chunks:
        assert embedder.count_tokens(c.embed_text) <= embedder.max_tokens == 256
        assert count_tokens(c.text) <= real_atlas.settings.chunk_tokens


def test_polisci_questions_find_their_page(real_atlas):
    lines = [json.loads(x) for x in (DATA / "polisci_questions.jsonl").read_text().splitlines()]
    hits = sum(real_atlas.search(q["question"], k=10).pages[0][0] == q["gold_page"] for q in lines)
    assert hits / len(lines) >= 0.8


def test_noop_reingest_embeds_nothing(real_atlas):
    report = real_atlas.ingest()
    assert report.embedded == 0 and report.added == report.updated == report.removed == 0


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_cli_end_to_end_in_a_fresh_process(tmp_path: Path, mode: str, request: pytest.FixtureRequest):
    env = {
        **os.environ,
        "ATLAS_QA_INDEX_DIR": str(tmp_path / "idx"),
        "ATLAS_QA_CORPUS": str(ROOT / "corpus"),
        "HF_HUB_OFFLINE": "1",
    }
    if mode == "server":
        env["ATLAS_QA_CHROMA_URL"] = request.getfixturevalue("chroma_server")
        env["ATLAS_QA_COURSE"] = "cli-test"
    cli = [sys.executable, "-m", "atlas_qa.cli"]
    ingest = subprocess.run([*cli, "ingest", str(ROOT / "corpus"), "--json"], env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["added"] == 1
    again = subprocess.run([*cli, "ingest", str(ROOT / "corpus")], env=env, capture_output=True, text=True)
    assert "nothing embedded" in again.stdout
    ask = subprocess.run([*cli, "ask", BORINS_QUESTION, "--json"], env=env, capture_output=True, text=True)
    assert ask.returncode == 0, ask.stderr
    out = json.loads(ask.stdout)
    assert out["citations"][0]["speaker"] == "Pal"
    # course-relative, never the server's absolute path
    assert out["citations"][0]["source"] == "atlas107/digital-technology-and-service-delivery.txt"
    assert str(ROOT) not in ask.stdout
    assert (tmp_path / "idx").exists() == (mode == "embedded")  # server mode writes nothing locally


def test_torch_backend_end_to_end_and_its_index_is_not_read_with_int8_vectors(tmp_path: Path):
    env = {**os.environ, "ATLAS_QA_INDEX_DIR": str(tmp_path / "idx"), "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "atlas_qa.cli"]
    ingest = subprocess.run(
        [*cli, "ingest", str(ROOT / "corpus"), "--backend", "torch"], env=env, capture_output=True, text=True
    )
    assert ingest.returncode == 0, ingest.stderr
    ask = subprocess.run(
        [*cli, "ask", BORINS_QUESTION, "--json", "--backend", "torch"], env=env, capture_output=True, text=True
    )
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["citations"][0]["chain"] == "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"
    default = subprocess.run([*cli, "ask", BORINS_QUESTION], env=env, capture_output=True, text=True)
    assert default.returncode != 0 and "Traceback" not in default.stderr
    assert "backend torch" in default.stderr and "ATLAS_QA_BACKEND" in default.stderr


SEED_CLAIMS = {
    "Some see this as a new public service paradigm.": "Dunleavy, P., et al. (2005)",
    "Rule-bound bureaucracies shift their rules to be embedded in software.": "Fountain, J. E. (2001)",
    "Web 2.0 governance brings new forms of collaboration among agencies, nonprofits and citizens.": "Tapscott, D., & Williams",
    "IT-enabled government could consolidate common functions previously located in each department.": "Borins, S. (2007)",
}


@pytest.mark.parametrize(("claim", "reference"), SEED_CLAIMS.items())
def test_seed_claims_are_attributed_to_the_right_work(real_atlas, claim, reference):
    works = real_atlas.attribute(claim)
    assert works and works[0].reference.startswith(reference)


def test_pal_own_words_are_pal_s(real_atlas):
    works = real_atlas.attribute("Pal does not go that far.")
    assert works[0].reference.startswith("Leslie Pal (2014), Beyond Policy Analysis")
    assert works[0].label == "Pal, 2014, pp. 213-214"


def test_out_of_scope_questions_are_refused_and_course_questions_answered(real_atlas):
    from atlas_qa.evaluate import load_questions, refusal_rates

    inside = [q.question for q in load_questions(DATA / "polisci_questions.jsonl")]
    outside = [q.question for q in load_questions(DATA / "out_of_scope.jsonl", require_gold=False)]
    rates = refusal_rates(lambda q: real_atlas.ask(q).refused, inside, outside)
    assert rates["out_of_scope_refused"] >= 0.9
    assert rates["in_scope_refused"] <= 0.06


def test_answers_keep_to_their_word_budget_with_the_real_model(real_atlas):
    """Three picks within 100 words; a fourth and fifth only while the answer stays within 75 (a pick is a sentence,
    with the one before it when it points back)."""
    from atlas_qa.answer import extract
    from atlas_qa.answer.sentences import points_back
    from atlas_qa.evaluate.datasets import load_questions

    shapes = []
    for q in load_questions(DATA / "polisci_questions.jsonl", require_gold=False):
        s = real_atlas.ask(q.question).sentences
        picks = sum(1 for i in range(len(s)) if not (i + 1 < len(s) and points_back(s[i + 1].text)))
        shapes.append((picks, sum(len(x.text.split()) for x in s)))
    assert all(0 < picks <= extract.MORE_SENTENCES and words <= extract.MAX_WORDS for picks, words in shapes)
    assert all(words <= extract.SHORT_WORDS for picks, words in shapes if picks > extract.MAX_SENTENCES)
    assert any(picks > extract.MAX_SENTENCES for picks, _ in shapes)  # short sentences: more of them


def test_eval_commands_on_the_excerpt(tmp_path: Path):
    env = {**os.environ, "ATLAS_QA_INDEX_DIR": str(tmp_path / "default"), "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "atlas_qa.cli"]
    run = subprocess.run(
        [
            *cli,
            "eval",
            str(DATA / "polisci_questions.jsonl"),
            "--corpus",
            str(DATA / "polisci"),
            "--retriever",
            "all",
            "--json",
            "--plot",
            str(tmp_path / "recall.png"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["n"] == 36 and set(out["retrievers"]) == {"bm25", "dense", "rrf", "hybrid"}
    assert out["retrievers"]["hybrid"]["recall@5"] >= 0.9
    assert (tmp_path / "recall.png").stat().st_size > 1000
    assert not (tmp_path / "default").exists()  # never the default index
    attr = subprocess.run(
        [*cli, "eval-attribution", str(DATA / "polisci_claims.jsonl"), "--corpus", str(DATA / "polisci"), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert attr.returncode == 0, attr.stderr
    assert json.loads(attr.stdout)["accuracy@1"] >= 0.8


def test_follow_ups_with_the_real_model(real_atlas):
    from atlas_qa.conversation import Turn

    def ask(question: str, history: list[Turn]):  # type: ignore[no-untyped-def]
        answer = real_atlas.ask(question, history=history)
        history.append(Turn(question, answer))
        return answer

    seed = "atlas107/digital-technology-and-service-delivery.txt"
    pal: list[Turn] = []
    ask("What did Pal say about digital technology?", pal)
    standalone = ask("How can citizens get access to their personal information?", pal)
    assert standalone.searched == standalone.question and "personal information" in standalone.answer

    npm: list[Turn] = []
    ask("What is New Public Management?", npm)
    modified = ask("when was it last modified", npm)
    assert modified.searched == "when was the page “Digital technology and service delivery” last modified"
    assert modified.citations[0].page_id == seed and "12 April 2017" in modified.answer

    aristotle: list[Turn] = []
    ask("Who argued that humans are political animals?", aristotle)
    meant = ask("What did he mean by that?", aristotle)
    assert meant.searched == "What did Aristotle mean by humans are political animals?"
    assert meant.citations[0].page_id == "m00002" and "Aristotle argued" in meant.answer


def test_a_markdown_books_citations_resolve_to_its_chapters_reference_list(tmp_path: Path, model_cache: Path):
    """A book (Psychology 2e) that lists a chapter's references on the chapter's introduction: asked with the real
    model and store, the answer's citation names the full reference of "(Johnson & Lubin, 2011)" from that page."""
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas

    atlas = Atlas(Settings(index_dir=tmp_path / "index", corpus=DATA / "psychology", cache_dir=model_cache))
    atlas.ingest()
    out = answer_json(atlas.ask("why is psychology such a popular major on college campuses?"))
    assert not out["refused"]
    cites = {c["label"]: c["reference"] for citation in out["citations"] for c in citation["cites"]}
    assert cites["Johnson & Lubin, 2011"].startswith("Johnson, R., & Lubin, G. (2011). College exposed")
