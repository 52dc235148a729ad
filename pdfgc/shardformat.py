"""The shard format's safety rules, shared by the writer (preprocessing) and the training reader.

A sample is stored as tar members ``{key}.{field}``. Keys hold only ``[A-Za-z0-9_-]`` so the
first dot of a member name always separates key and field, as WebDataset expects. No member
name is absolute or holds ``..``, and no member has an extension that common readers would
unpickle: shards are untrusted input.
"""

from __future__ import annotations

import re

from pdfgc.errors import UnsafeShardError

UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")
PICKLE_LIKE_EXTENSIONS = (".pyd", ".pickle", ".pkl", ".pth", ".pt")
"""Members that common readers would unpickle; shards never hold them."""


def sanitize_key(text: str) -> str:
    """Replace every character outside ``[A-Za-z0-9_-]`` by ``-``."""
    return UNSAFE_KEY_CHARS.sub("-", text)


def check_member_name(name: str) -> None:
    """Raise UnsafeShardError for absolute names, ``..`` parts or pickle-like extensions."""
    if name.startswith("/") or ".." in name or "\\" in name:
        raise UnsafeShardError(f"member {name!r}: absolute path or '..' refused")
    if name.lower().endswith(PICKLE_LIKE_EXTENSIONS):
        raise UnsafeShardError(f"member {name!r}: pickle-like extension refused")
