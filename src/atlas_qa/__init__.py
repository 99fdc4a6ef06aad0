"""atlas-qa: question answering with exact source attribution over course material."""

__version__ = "0.1.0"
