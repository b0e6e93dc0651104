"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

- `ingests`: every accepted article with its raw payload (kept for re-cleaning and audit) and
  its processing state. The id is derived from (url, content), which makes re-posting idempotent
  without a read-before-write race. `backfill_input`: the backfill input that read it first,
  by which `canonry backfill --wait` counts a run's outcomes.
- `documents`: one row per story, the canonical text. `change_seq` orders the change feed:
  each decision transaction gives the documents it changes the next numbers after the highest
  committed one (decision transactions are serialised, so numbers commit in order).
- `provenance`: every copy of a story (one row per ingest).
- `url_aliases`: every address a document is found by — each copy's own URL and the links its
  HTML declares for itself — keyed by the digest of the URL's normal form.
- `signatures`: the MinHash of each canonical text; the LSH index is derived from these. The
  signature reads the body as found on the page alone; where the learned boilerplate trimmed
  the published text, `match_text` keeps what it read (the same-site check compares it too).
- `alias_signatures`: other texts a document is found by, each under a key of its own, with
  the URL it came from: the canonical an upgrade replaced, and copies that told the story
  differently (verified by containment or on their texts, not by Jaccard).
  The LSH index holds them beside `signatures`: a later copy may resemble them, not the
  canonical.
- `outbox`: one event per change (document created, updated, a duplicate added), written in the
  transaction of the change, keyed by its `change_seq`; GET /events and the Redis event stream
  are fed from it, so an event exists exactly when its change does.
- `backfill_checkpoints`: how far `canonry backfill` has read each input, committed in the
  transaction that accepts the records it covers, so a killed backfill continues there.
- `chrome_sources`, `chrome_lines`, `chrome_line_sources`: the learned boilerplate model —
  pages seen per source, pages per (source, line), sources per line.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere.
_SeqId = BigInteger().with_variant(Integer(), "sqlite")

ingests = Table(
    "ingests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("title", Text),
    Column("text", Text),
    Column("html", Text),
    Column("language", String(35)),
    Column("published_at", DateTime(timezone=True)),
    Column("metadata", JSON),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("document_id", String(40)),
    Column("match", String(8)),
    Column("similarity", Float),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("error_code", String(40)),  # machine-readable reason beside `error` (0002)
    # The `canonry backfill` input (its checkpoint's name) that read it first; NULL: HTTP only.
    Column("backfill_input", Text),
)
Index("ix_ingests_status", ingests.c.status)
# A backfill's outcomes, counted by input from the index alone (HTTP ingests are not in it).
Index("ix_ingests_backfill_input", ingests.c.backfill_input, ingests.c.status, ingests.c.match,
      ingests.c.error_code, postgresql_where=ingests.c.backfill_input.isnot(None),
      sqlite_where=ingests.c.backfill_input.isnot(None))

documents = Table(
    "documents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("title", Text),
    Column("text", Text, nullable=False),
    Column("language", String(35)),
    Column("url", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("canonical_ingest_id", String(40), nullable=False),
    Column("provenance_count", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
)
Index("ix_documents_change_seq", documents.c.change_seq, unique=True)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(24), nullable=False),
    Column("document_id", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("ingest_id", String(40)),
    Column("at", DateTime(timezone=True), nullable=False),
)

provenance = Table(
    "provenance",
    metadata,
    Column("id", _SeqId, primary_key=True, autoincrement=True),
    Column("document_id", String(40), ForeignKey("documents.id"), nullable=False),
    Column("ingest_id", String(40), ForeignKey("ingests.id"), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("match", String(8), nullable=False),
    Column("similarity", Float),
)
Index("ix_provenance_document", provenance.c.document_id, provenance.c.id)

url_aliases = Table(
    "url_aliases",
    metadata,
    Column("id", _SeqId, primary_key=True, autoincrement=True),
    Column("url_key", String(32), nullable=False),  # canonry.workers.urls.url_key
    Column("url", Text, nullable=False),  # as sent (kind "url") or as the page declared it
    Column("kind", String(16), nullable=False),  # "url", "canonical", "og:url", "amphtml"
    Column("document_id", String(40), nullable=False),
    Column("ingest_id", String(40), nullable=False),
)
# Every article asks whether its URL is known, every lookup by which alias: a flat cost per URL
# however large the archive (fixed-size keys: URLs may be kilobytes long).
Index("ix_url_aliases_key", url_aliases.c.url_key, url_aliases.c.id)
Index("ix_url_aliases_document", url_aliases.c.document_id, url_aliases.c.id)

signatures = Table(
    "signatures",
    metadata,
    Column("document_id", String(40), ForeignKey("documents.id"), primary_key=True),
    # Two canonical documents with the same clean text would be one story told twice.
    Column("text_hash", String(64), nullable=False, unique=True),
    Column("hashvalues", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("seen_at", Float, nullable=False),
    # The text the signature was taken from when it is not `documents.text`: the body before
    # the source's learned boilerplate trimmed lines from the published text (0007).
    Column("match_text", Text),
)
Index("ix_signatures_seen_at", signatures.c.seen_at)

alias_signatures = Table(
    "alias_signatures",
    metadata,
    # identity.alias_key_for(the ingest that upgraded the document, or the copy itself)
    Column("key", String(40), primary_key=True),
    Column("document_id", String(40), ForeignKey("documents.id"), nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("hashvalues", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    # A former canonical's: the document's; a copy's: its own arrival (a story republished
    # later stays findable by that copy for a window from then).
    Column("seen_at", Float, nullable=False),
    Column("url", Text, nullable=False),
    Column("match_text", Text, nullable=False),
)
Index("ix_alias_signatures_seen_at", alias_signatures.c.seen_at)
Index("ix_alias_signatures_document", alias_signatures.c.document_id)

backfill_checkpoints = Table(
    "backfill_checkpoints",
    metadata,
    Column("input", Text, primary_key=True),  # the input's resolved path (a WARC, a JSONL file)
    Column("records", BigInteger, nullable=False),  # records read and committed, from the start
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

chrome_sources = Table(
    "chrome_sources",
    metadata,
    Column("source", Text, primary_key=True),
    Column("pages", Integer, nullable=False),
)

chrome_lines = Table(
    "chrome_lines",
    metadata,
    Column("source", Text, primary_key=True),
    Column("line_hash", String(32), primary_key=True),
    Column("pages", Integer, nullable=False),
    # Most rows are article lines seen once; pruning drops those not seen again for a while.
    Column("last_seen", Float, nullable=False),
)
Index("ix_chrome_lines_prune", chrome_lines.c.pages, chrome_lines.c.last_seen)

chrome_line_sources = Table(
    "chrome_line_sources",
    metadata,
    Column("line_hash", String(32), primary_key=True),
    Column("sources", Integer, nullable=False),
)
