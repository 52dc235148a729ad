"""Errors that reach a user as one clear line (the CLI prints them without a traceback)."""


class PdfgcError(Exception):
    """Base class: the message names the file or key at fault and the reason."""


class ConfigError(PdfgcError):
    """A config file or override is invalid."""


class InputError(PdfgcError):
    """An input path is missing or unreadable."""


class MediaError(PdfgcError):
    """A video or audio file cannot be used; ``reason`` is a short machine-readable tag."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


class MissingWeightsError(PdfgcError):
    """A licensed model's files are not where the config says; the message says how to get them."""


class UnsafeShardError(PdfgcError):
    """A shard member is refused (pickle-like extension or an unsafe member name)."""


class DiskFullError(PdfgcError):
    """A write ran out of space (or hit a file-size limit); unfinished work is redone next run."""
