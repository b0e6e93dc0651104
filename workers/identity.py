"""Deterministic ids. An ingest id is a hash of (url, content): posting the same article twice,
from any API node at any time, yields the same id with no read-before-write race. A document id
is derived from the ingest that founded it, so redelivering that ingest after a crash recreates
the very same document instead of a second one."""

from __future__ import annotations

import hashlib
import re

_ID_HEX = 26  # 104 bits: collision-free at any plausible archive size
_INGEST_ID = re.compile(rf"ing_[0-9a-f]{{{_ID_HEX}}}")
_DOCUMENT_ID = re.compile(rf"doc_[0-9a-f]{{{_ID_HEX}}}")


def is_ingest_id(value: str) -> bool:
    """The shape every ingest id has: anything else names no ingest (and is not sent on to a
    database, which may refuse it: PostgreSQL text cannot hold NUL)."""
    return _INGEST_ID.fullmatch(value) is not None


def is_document_id(value: str) -> bool:
    return _DOCUMENT_ID.fullmatch(value) is not None


def content_hash(text: str | None, html: str | None) -> str:
    digest = hashlib.sha256()
    for part in (text, html):
        digest.update(b"\x01" if part is not None else b"\x00")
        digest.update((part or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def ingest_id_for(url: str, content_digest: str) -> str:
    digest = hashlib.sha256(f"{url}\x00{content_digest}".encode("utf-8", "surrogatepass"))
    return "ing_" + digest.hexdigest()[:_ID_HEX]


def document_id_for(ingest_id: str) -> str:
    return "doc_" + ingest_id.removeprefix("ing_")


def alias_key_for(ingest_id: str) -> str:
    """The index key of the alias this ingest leaves (`IndexEntry.alias_of`): the canonical
    text it replaced (an upgrade), or its own text (a copy that told the story differently).
    An ingest is one or the other, never both; derived from it, so a redelivery that finds
    the ingest finished writes nothing twice."""
    return "als_" + ingest_id.removeprefix("ing_")
