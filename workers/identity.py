"""Deterministic ids. An ingest id is a hash of (url, content): posting the same article twice,
from any API node at any time, yields the same id with no read-before-write race. A document id
is derived from the ingest that founded it, so redelivering that ingest after a crash recreates
the very same document instead of a second one."""

from __future__ import annotations

import hashlib

_ID_HEX = 26  # 104 bits: collision-free at any plausible archive size


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
