"""The HTTP data contract (see CONTRACT.md): request and response models. `/openapi.json` is
generated from these, so the models are the single source of truth for field names and rules."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from canonry.workers.article import publisher_of

# Stray controls: C0 controls other than tab, newline, vertical tab, form feed and carriage
# return (the cleaner reads VT and FF as line breaks), NUL included (PostgreSQL text cannot hold
# it). They are dropped from text fields on acceptance, so the stored payload, its content hash
# and its ingest id are those of the text without them. Found in the UTF-8 bytes (no multi-byte
# sequence holds a byte below 0x80): bytes.translate deletes them ~5x faster than a regex.
_STRAY_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])
# Binary data (a PNG, a PDF, UTF-16 read as UTF-8) is still refused. The criterion: more than
# MAX_STRAY_CONTROLS stray controls that are also at least BINARY_CONTROL_SHARE of the
# characters. Measured: a PNG or a PDF's streams read as Latin-1 are ~10 % controls, UTF-16 text
# ~50 % NUL; a page with a stray control in every paragraph is ~0.2 %, and a handful of them in
# any text (a short title included) is never refused.
MAX_STRAY_CONTROLS = 8
BINARY_CONTROL_SHARE = 0.01
# A URL never holds these raw (RFC 3986: spaces and controls are percent-encoded), and
# PostgreSQL text cannot hold NUL: refused in URLs on every backend alike.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
BCP47_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
_BCP47 = re.compile(BCP47_PATTERN)

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
# What /openapi.json promises for text fields: at most MAX_STRAY_CONTROLS stray controls
# (dropped), which no text is refused for. The binary criterion (a share of the length) is not a
# regular language: a longer text may hold more and still be accepted, so the spec promises less
# than the validator accepts, never more (a request valid by the spec is always accepted).
_STRAY = r"\x00-\x08\x0e-\x1f"
TEXT_PATTERN = rf"^[^{_STRAY}]*([{_STRAY}][^{_STRAY}]*){{0,{MAX_STRAY_CONTROLS}}}$"
# Something other than what str.strip() removes, and not a stray control (dropped): a text of
# only these is empty.
NOT_BLANK = (r"[^\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029"
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


# published_at: the shapes feeds send, as one pattern (written into /openapi.json and checked
# here) that allows exactly the calendar dates that exist: the validator then refuses only an
# instant past year 9999 (or before year 1) once converted to UTC, which no pattern can say.
def _ci(word: str) -> str:
    """`word` in any letter case, without inline flags (ECMA-262 has none)."""
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


def _any_of(*words: str) -> str:
    return "(" + "|".join(_ci(w) for w in words) + ")"


_Y4 = "([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"  # 0001-9999
_BY_4 = "(0[48]|[2468][048]|[13579][26])"  # two digits, a multiple of 4 other than 00
_LEAP_Y4 = f"([0-9]{{2}}{_BY_4}|{_BY_4}00)"
_LEAP_Y2 = f"(00|{_BY_4})"  # two-digit years: 00 is 2000 (RFC 2822 4.3), a leap year
_HOUR, _MIN = "([01][0-9]|2[0-3])", "[0-5][0-9]"  # no leap second 60: datetime has none
_ISO_DATE = (f"({_Y4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)"
             f"|(0[13578]|1[02])-31)|{_LEAP_Y4}-02-29)")
_ISO = (f"{_ISO_DATE}[Tt ]{_HOUR}:{_MIN}(:{_MIN}([.,][0-9]+)?)?"
        f"([Zz]|[+-]{_HOUR}(:?{_MIN})?)?")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_Y2822 = f"({_Y4}|[0-9]{{2}})"
_DAY_MONTH_YEAR = (
    f"((0?[1-9]|1[0-9]|2[0-8]) +{_any_of(*_MONTHS)} +{_Y2822}"
    f"|(29|30) +{_any_of(*(m for m in _MONTHS if m != 'Feb'))} +{_Y2822}"
    f"|31 +{_any_of('Jan', 'Mar', 'May', 'Jul', 'Aug', 'Oct', 'Dec')} +{_Y2822}"
    f"|29 +{_ci('Feb')} +({_LEAP_Y4}|{_LEAP_Y2}))"
)
# RFC 2822 zones: numeric, and the obsolete names (4.3) whose meaning is known; military
# letters other than Z are refused, as 4.3 says they carry no information.
_ZONE_OFFSETS = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6,
                 "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
_RFC2822 = (f"({_any_of('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')} *, *)?"
            f"{_DAY_MONTH_YEAR} +{_HOUR}:{_MIN}(:{_MIN})? +"
            f"([+-]{_HOUR}{_MIN}|{_any_of(*_ZONE_OFFSETS)})")
DATE_TIME_PATTERN = f"^({_ISO}|{_RFC2822})$"
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
# Field extraction once _DATE_TIME has checked the whole string.
_ISO_FIELDS = re.compile(r"(\d+)-(\d+)-(\d+)[Tt ](\d+):(\d+)(?::(\d+)(?:[.,](\d+))?)?(.*)")
_RFC2822_FIELDS = re.compile(r"(?:\w+ *, *)?(\d+) +(\w+) +(\d+) +(\d+):(\d+)(?::(\d+))? +(\S+)")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)?")
DATE_TIME_HELP = ("must be a real date and time, as RFC 3339 / ISO 8601 such as "
                  "2021-06-24T05:19:00Z or "
                  "2021-06-24 05:19:00 (no offset: UTC), or RFC 2822 such as "
                  "Thu, 24 Jun 2021 05:19:00 GMT")


def _offset(sign: str, hours: str, minutes: str | None) -> timezone:
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(-delta if sign == "-" else delta)


def parse_date_time(value: str) -> datetime:
    """The UTC instant of a date-time in one of DATE_TIME_PATTERN's shapes; ValueError if it is
    in none, or outside years 1-9999 in UTC.

    RFC 2822 is read here rather than by email.utils.parsedate_to_datetime, which returns a
    naive datetime for -0000 and for unknown zones, reads two-digit years 50-68 as 2050-2068
    (RFC 2822 4.3: 1950-1968) and takes month-day order as well. The weekday is not checked
    against the date (feeds get it wrong; the date is what counts)."""
    if not _DATE_TIME.fullmatch(value):
        raise ValueError(DATE_TIME_HELP)
    zone: timezone = UTC
    if iso := _ISO_FIELDS.fullmatch(value):
        year, month, day, hour, minute, second, fraction, offset = iso.groups()
        microsecond = int((fraction or "0")[:6].ljust(6, "0"))  # finer than 1 us: truncated
        if offset and (numeric := _OFFSET.fullmatch(offset)):
            zone = _offset(*numeric.groups())
    else:
        rfc = _RFC2822_FIELDS.fullmatch(value)
        assert rfc is not None  # the pattern allows nothing else
        day, month_name, year, hour, minute, second, name = rfc.groups()
        month = str(1 + [m.lower() for m in _MONTHS].index(month_name.lower()))
        microsecond = 0
        if len(year) == 2:  # RFC 2822 4.3: 00-49 are 2000-2049, 50-99 are 1950-1999
            year = str(int(year) + (2000 if int(year) < 50 else 1900))
        if numeric := _OFFSET.fullmatch(name):
            zone = _offset(*numeric.groups())  # -0000 too: UTC, local zone unknown
        else:
            zone = timezone(timedelta(hours=_ZONE_OFFSETS[name.upper()]))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute),
                         int(second or 0), microsecond, tzinfo=zone)
    except ValueError:  # unreachable while the pattern holds only real dates; kept as a guard
        raise ValueError("is not a date on the calendar") from None
    try:
        return local.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside years 1-9999 once converted to UTC") from None


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


def looks_binary(controls: int, length: int) -> bool:
    """Whether `controls` stray controls in `length` characters are binary data, not a text with
    a few stray ones (see MAX_STRAY_CONTROLS)."""
    return controls > MAX_STRAY_CONTROLS and controls >= BINARY_CONTROL_SHARE * length


def _check_text(value: str | None) -> str | None:
    """`value` without its stray control characters; ValueError for binary data or text that
    is not valid UTF-8."""
    if value is None:
        return None
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 (lone surrogates or undecodable bytes)") from None
    kept = encoded.translate(None, _STRAY_CONTROL_BYTES)
    if len(kept) == len(encoded):
        return value
    if looks_binary(len(encoded) - len(kept), len(value)):
        raise ValueError(f"is binary data, not an article ({len(encoded) - len(kept)} control "
                         f"characters of {len(value)}; more than {MAX_STRAY_CONTROLS} and "
                         f"{BINARY_CONTROL_SHARE:.0%} of the text are refused)")
    return kept.decode("utf-8")


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
    published_at: Annotated[datetime, WithJsonSchema(
        {"type": "string", "pattern": DATE_TIME_PATTERN})] | None = Field(
        None, description="When the story was published: an RFC 3339 / ISO 8601 date-time "
        "(2021-06-24T05:19:00+02:00, 2021-06-24 05:19:00.5, 2021-06-24T05:19Z; extended "
        "format; without an offset it is UTC) or RFC 2822 as RSS pubDate sends it (Thu, 24 Jun "
        "2021 05:19:00 GMT, numeric or RFC 2822 4.3 zones such as EST, two-digit years as 4.3 "
        "reads them, the weekday not checked). Stored as the UTC instant.")
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
    def _date_time(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):  # from Python callers; naive is UTC, as in JSON
            return parse_date_time(value.isoformat())
        if not isinstance(value, str):
            raise ValueError(DATE_TIME_HELP)
        return parse_date_time(value)

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and (reason := _unstorable_json(value)):
            raise ValueError(reason)
        return value

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str | None) -> str | None:
        if value is not None and not _BCP47.fullmatch(value):
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
    published_at: datetime | None = Field(description="As this copy was sent, in UTC")
    received_at: datetime
    match: MatchKind
    similarity: float | None
    metadata: dict[str, Any] | None = Field(description="This copy's metadata, as it was sent")


class DocumentOut(BaseModel):
    id: str
    title: str | None
    text: str
    language: str | None
    url: str
    source: str
    published_at: datetime | None = Field(
        description="The earliest of its copies' publication dates (the founding article's own "
                    "includes a date found in its HTML), in UTC")
    first_seen_at: datetime
    updated_at: datetime
    version: int
    provenance_count: int
    metadata: dict[str, Any] | None = Field(
        description="The metadata of the article whose text is canonical, as it was sent")
    aliases: list[str] = Field(
        description="Addresses its pages declared for themselves (`<link rel=canonical>`, "
                    "`og:url`, `<link rel=amphtml>`), oldest first, at most 50; GET /lookup "
                    "finds the document by these and by every copy's URL")
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
    url: str = Field(description="The URL as asked")
    normalized_url: str = Field(
        description="Its normal form, in which it was compared: scheme and host case, `www.`, "
                    "default port, trailing slash, fragment and tracking parameters do not count")
    document_id: str
    matched_by: Literal["url", "canonical", "og:url", "amphtml"] = Field(
        description="`url`: a copy was sent with this URL; otherwise a page declared it as its "
                    "own address (`<link rel=canonical>`, `og:url`, `<link rel=amphtml>`)")
    ingest_ids: list[str] = Field(description="The ingests it was matched through (the newest "
                                              "1,000 at most)")


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
