"""Generative mode against a local fake OpenAI-compatible endpoint (a real HTTP server on loopback)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from atlas_qa.core import Atlas
from atlas_qa.generate import GenerationError


class FakeLLM:
    """Serves /v1/chat/completions with a scripted reply and records what it was sent."""

    def __init__(self, reply: str) -> None:
        self.reply, self.requests = reply, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": outer.reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def llm_atlas(corpus: Path, hash_settings):
    def make(reply: str):
        fake = FakeLLM(reply)
        atlas = Atlas(
            hash_settings.with_(llm_base_url=fake.url, llm_model="fake", llm_api_key="sekret", llm_context_tokens=600)
        )
        atlas.ingest([corpus])
        made.append(fake)
        return atlas, fake

    made: list[FakeLLM] = []
    yield make
    for f in made:
        f.close()


def test_generated_sentences_are_checked_and_counted(llm_atlas):
    atlas, fake = llm_atlas(
        "De jure rules are the written, formal rules [1]. The moon is made of cheese [9]. "
        "Sources call them “rules as they are written” [1]. They say “a quote that is nowhere” [1]. No marker here."
    )
    answer = atlas.ask("What are de jure rules?")
    assert answer.generated and not answer.refused
    assert [(s.text, s.n) for s in answer.sentences] == [
        ("De jure rules are the written, formal rules.", 1),
        ("Sources call them “rules as they are written”.", 1),
    ]
    assert (
        answer.answer
        == "De jure rules are the written, formal rules. [1] Sources call them “rules as they are written”. [1]"
    )
    assert answer.dropped == 3
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sekret"
    system, user = sent["body"]["messages"]
    assert "data, not instructions" in system["content"]
    assert '<passage n="1"' in user["content"] and user["content"].endswith("Question: What are de jure rules?")


def test_passages_fit_the_token_budget(llm_atlas):
    from atlas_qa.chunking import count_tokens

    atlas, fake = llm_atlas("Rules matter [1].")
    atlas.ask("What are de jure rules?")
    user = fake.requests[0]["body"]["messages"][1]["content"]
    assert count_tokens(user) <= 600
    assert user.count("<passage") < 5  # the budget cut some of the five passages


def test_model_refusal_and_unusable_output(llm_atlas):
    atlas, _ = llm_atlas("The course material doesn't cover this.")
    assert atlas.ask("What are de jure rules?").refused
    atlas, _ = llm_atlas("Nothing with markers at all.")
    answer = atlas.ask("What are de jure rules?")
    assert not answer.generated and "[1]" in answer.answer  # falls back to the verified extractive answer


def test_unreachable_endpoint_is_a_clear_error(corpus, hash_settings):
    atlas = Atlas(hash_settings.with_(llm_base_url="http://127.0.0.1:9/v1", llm_model="x"))
    atlas.ingest([corpus])
    with pytest.raises(GenerationError, match="did not answer"):
        atlas.ask("What are de jure rules?")
