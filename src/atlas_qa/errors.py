"""The few errors atlas-qa raises; the CLI and UI turn each into one clear sentence."""


class AtlasError(Exception):
    """Base class: every message says what went wrong and what to do.

    `status`: the HTTP status an API answers with when this error ends a request.
    """

    status = 500


class ConfigError(AtlasError):
    """A setting is missing or invalid."""


class LoadError(AtlasError):
    """A course file cannot be read; the ingest skips it with this reason."""


class IndexMismatchError(AtlasError):
    """The index was built with another embedding model or an older schema."""


class IndexNotFoundError(AtlasError):
    """No index exists where one was expected."""

    status = 503


class ModelLoadError(AtlasError):
    """The embedding model cannot be loaded offline."""


class QuestionError(AtlasError):
    """The question cannot be asked as given (not text, empty, too long)."""

    status = 400


class StoreUnavailableError(AtlasError):
    """The index's store (a Chroma server, or the index folder) cannot be reached or written; asking again later
    may work."""

    status = 503


class WriteLockLost(AtlasError):
    """This writer's lease on a Chroma server ran out or was taken over: it stopped writing."""
