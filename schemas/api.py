"""The HTTP data contract (see CONTRACT.md): request and response models. `/openapi.json` is
generated from these, so the models are the single source of truth for field names and rules."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from canonry.workers.article import publisher_of

# RFC 3339 date-time: a full date, a time, and an explicit offset. Python's fromisoformat alone
# is looser (date-only, no offset), and an ambiguous timestamp would corrupt provenance ordering.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
# C0 controls other than tab, newline, vertical tab, form feed and carriage return. Looked for
# in the UTF-8 bytes (no multi-byte sequence holds a byte below 0x80): deleting them with
# bytes.translate and comparing lengths is ~5x faster than a regex scan of a long text.
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])
# A URL never holds these raw (RFC 3986: spaces and controls are percent-encoded), and
# PostgreSQL text cannot hold NUL: refused in URLs on every backend alike.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

# The patterns below are written into /openapi.json *and* checked here with the same regex, so
# a client generating requests from the spec (schemathesis does) finds no gap either way.
# They use only syntax Python and ECMA-262 read alike.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# Characters whose NFKC form holds / ? # @ or : (urlsplit refuses them in a host, as IDNA would
# read them as delimiters), listed so the pattern refuses them too.
_NFKC_DELIMITERS = (r"\u2047\u2048\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55"
                    r"\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20")
_AUTHORITY_CHAR = rf"[^\x00-\x20\x7f/?#@\[\]\\{_NFKC_DELIMITERS}"
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp]([Ss])?://"
    rf"({_AUTHORITY_CHAR}]*@)?"  # userinfo: accepted, then stripped
    rf"{_AUTHORITY_CHAR}:]+"  # host name or IPv4 (no IPv6 literals)
    rf"(:{_PORT}?)?"
    r"([/?#][^\x00-\x20\x7f]*)?$"
)
_URL = re.compile(URL_PATTERN)
# Text fields refuse C0 controls other than tab and line breaks (see _BINARY_BYTES).
TEXT_PATTERN = r"^[^\x00-\x08\x0e-\x1f]*$"
# Something other than what str.strip() removes: a text of only these is empty.
NOT_BLANK = (r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029"
             r"\u202f\u205f\u3000]")
_NOT_BLANK = re.compile(NOT_BLANK)
_TEXT_SCHEMA = {"pattern": TEXT_PATTERN}
# Any JSON without NUL, as far as JSON Schema can say what _unstorable_json checks: /openapi.json
# puts it where a field is marked with NUL_FREE_MARK (pydantic cannot hold the recursive $ref).
NUL_FREE_MARK = "x-nul-free-json"
_NUL_FREE = {"type": "string", "pattern": "^[^\\x00]*$"}
NUL_FREE_JSON_REF = {"$ref": "#/components/schemas/NulFreeJson"}
NUL_FREE_OBJECT = {"type": "object", "propertyNames": _NUL_FREE,
                   "additionalProperties": NUL_FREE_JSON_REF}
NUL_FREE_JSON = {"anyOf": [_NUL_FREE, {"type": ["number", "boolean", "null"]},
                           {"type": "array", "items": NUL_FREE_JSON_REF}, NUL_FREE_OBJECT]}


def _has_text(value: str | None) -> bool:
    return bool(value) and _NOT_BLANK.search(value or "") is not None


def _text_or_html_required(schema: dict[str, Any]) -> None:
    """The JSON Schema of "one of text or html, not blank" (what _has_content checks)."""
    schema["anyOf"] = [{"required": [name], "properties": {name: {
        "type": "string", "pattern": NOT_BLANK}}} for name in ("text", "html")]

MatchKind = Literal["new", "exact", "near"]
IngestState = Literal["queued", "processing", "done", "failed"]


def url_is_storable(url: str) -> bool:
    """False for a URL no article can carry (see `_URL_UNSAFE`): looking it up finds nothing."""
    return _URL_UNSAFE.search(url) is None


MAX_METADATA_DEPTH = 32  # deeper JSON is no metadata anyone means; it only costs a stack


def _unstorable_json(value: Any, depth: int = 0) -> str | None:
    """Why a JSON value cannot be stored on every backend, or None: PostgreSQL's text and
    jsonb refuse NUL and lone surrogates, and jsonb refuses Infinity (what 1e400 parses to)."""
    if depth > MAX_METADATA_DEPTH:
        return f"must not nest deeper than {MAX_METADATA_DEPTH} levels"
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid UTF-8 (no lone surrogates)"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must hold finite numbers only"
    items: list[Any] = []
    if isinstance(value, dict):
        items = [item for pair in value.items() for item in pair]
    elif isinstance(value, list):
        items = value
    return next((reason for item in items if (reason := _unstorable_json(item, depth + 1))),
                None)


def _check_text(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 (lone surrogates or undecodable bytes)") from None
    if len(encoded.translate(None, _BINARY_BYTES)) != len(encoded):
        raise ValueError("contains control characters: binary data is not an article")
    return value


class ArticleIn(BaseModel):
    """One article as a feed poller or backfill sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False,
                              json_schema_extra=_text_or_html_required)

    url: str = Field(description="Absolute http(s) URL of the article (credentials in it are "
                                 "dropped)", max_length=8192,
                     json_schema_extra={"pattern": URL_PATTERN})
    text: str | None = Field(None, description="Plain text as the site served it, chrome included",
                             json_schema_extra=_TEXT_SCHEMA)
    html: str | None = Field(None, description="The page's (or the article's) HTML",
                             json_schema_extra=_TEXT_SCHEMA)
    title: str | None = Field(None, max_length=2000, description="Inferred when absent",
                              json_schema_extra=_TEXT_SCHEMA)
    source: str | None = Field(None, max_length=500, description="Publisher; default: URL host",
                               json_schema_extra=_TEXT_SCHEMA)
    published_at: datetime | None = Field(None, description="RFC 3339 date-time with offset")
    language: str | None = Field(None, max_length=35, description="BCP 47 tag; detected if absent",
                                 json_schema_extra={"pattern": _BCP47.pattern})
    metadata: dict[str, Any] | None = Field(None, description="Stored and returned as given",
                                            json_schema_extra={NUL_FREE_MARK: True})

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not url_is_storable(value):
            raise ValueError("must not contain spaces or control characters (percent-encode them)")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - parsing the port is what checks it
        except ValueError:
            raise ValueError("is not a URL (or its port is not 0-65535)") from None
        if (parts.scheme.lower() not in {"http", "https"} or not parts.hostname
                or not _URL.fullmatch(value)):
            raise ValueError("must be an absolute http or https URL")
        if parts.username is not None or parts.password is not None:
            # Credentials would be stored and served to every reader of the provenance: the
            # article is kept, at its address without them.
            value = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        return value

    @field_validator("text", "html", "title", "source")
    @classmethod
    def _valid_text(cls, value: str | None) -> str | None:
        return _check_text(value)

    @field_validator("published_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time such as 2016-02-11T09:30:00Z")
        return value

    @field_validator("published_at")
    @classmethod
    def _storable_instant(cls, value: datetime | None) -> datetime | None:
        # Stored as UTC: an offset may carry a valid local time past year 9999 or before year 1.
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("is outside years 1-9999 once converted to UTC") from None
        return value

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and (reason := _unstorable_json(value)):
            raise ValueError(reason)
        return value

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str | None) -> str | None:
        if value is not None and not _BCP47.match(value):
            raise ValueError("must be a BCP 47 language tag such as en or pt-BR")
        return value

    @model_validator(mode="after")
    def _has_content(self) -> ArticleIn:
        if not _has_text(self.text) and not _has_text(self.html):
            raise ValueError("one of `text` or `html` is required and must not be empty")
        return self

    @property
    def effective_source(self) -> str:
        return self.source or publisher_of(self.url)


class ArticleBatchIn(BaseModel):
    """A batch; validated article by article, so a bad one is named by its index."""

    articles: list[ArticleIn] = Field(min_length=1)


class IngestReceipt(BaseModel):
    ingest_id: str
    status: IngestState
    status_url: str


class IngestBatchReceipt(BaseModel):
    receipts: list[IngestReceipt]


class IngestError(BaseModel):
    """Why an ingest failed (or why its last attempt did, while it is retried)."""

    code: str = Field(description="machine-readable: empty_after_cleaning, too_long, "
                                  "attempts_exhausted, "
                                  "pipeline_error, worker_crashed, canonical_not_committed, "
                                  "store_error, index_error")
    message: str


class IngestStatus(BaseModel):
    ingest_id: str
    status: IngestState
    url: str
    received_at: datetime
    attempts: int
    document_id: str | None = None
    match: MatchKind | None = None
    similarity: float | None = None
    error: IngestError | None = None


class ProvenanceOut(BaseModel):
    ingest_id: str
    url: str
    source: str
    published_at: datetime | None
    received_at: datetime
    match: MatchKind
    similarity: float | None


class DocumentOut(BaseModel):
    id: str
    title: str | None
    text: str
    language: str | None
    url: str
    source: str
    published_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    version: int
    provenance_count: int
    provenance: list[ProvenanceOut] | None = Field(
        None, description="Every copy; on GET /documents/{id} only (paginated: /provenance)"
    )


class DocumentPage(BaseModel):
    documents: list[DocumentOut]
    next: str | None = Field(description="Cursor for ?after= ; null when nothing newer exists yet")


class ProvenancePage(BaseModel):
    provenance: list[ProvenanceOut]
    next: str | None


class EventOut(BaseModel):
    """A change to a document, as pushed: `seq` is its feed position (resume after it)."""

    seq: int
    type: Literal["document.created", "document.updated", "duplicate.added"]
    document_id: str
    version: int
    ingest_id: str | None = Field(description="the article that made the change; null for a "
                                              "re-clean")
    at: datetime


class EventPage(BaseModel):
    events: list[EventOut]
    next: int = Field(description="the `after` of the next page: the last seq here, or the "
                                  "given `after` when nothing newer exists yet")


class LookupOut(BaseModel):
    url: str
    document_id: str
    ingest_ids: list[str]


class SimilarIn(BaseModel):
    model_config = ConfigDict(json_schema_extra=_text_or_html_required)

    text: str | None = Field(None, json_schema_extra=_TEXT_SCHEMA)
    html: str | None = Field(None, json_schema_extra=_TEXT_SCHEMA)
    limit: int = Field(10, ge=1, le=100)

    @field_validator("text", "html")
    @classmethod
    def _valid_text(cls, value: str | None) -> str | None:
        return _check_text(value)

    @field_validator("limit", mode="before")
    @classmethod
    def _json_integer(cls, value: Any) -> Any:
        # A JSON Schema integer: 7 or 7.0, never "7" or true (which pydantic's lax mode takes).
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or (isinstance(value, float) and not value.is_integer())):
            raise ValueError("must be an integer")
        return int(value)

    @model_validator(mode="after")
    def _has_content(self) -> SimilarIn:
        if not _has_text(self.text) and not _has_text(self.html):
            raise ValueError("one of `text` or `html` is required and must not be empty")
        return self


class SimilarHit(BaseModel):
    document_id: str
    similarity: float
    containment: float
    title: str | None


class SimilarOut(BaseModel):
    results: list[SimilarHit]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 Problem Details, the one shape of every error this API returns."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None
