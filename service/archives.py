"""What `canonry backfill` reads: archives in the formats newsrooms keep, each record mapped to
the POST /ingest article shape (validation happens later, as for the API).

- JSONL / NDJSON, plain, `.gz` or `.zst`; `-` is standard input. A record is a line.
- A directory of `.txt` / `.html` / `.htm` files (walked in sorted order, so a record number
  means the same file on every run). The URL and other fields come from a sidecar JSON beside
  the file (`story.html` → `story.json` or `story.html.json`), else from `--url-template`
  (`{stem}`, `{name}`, `{path}`: the path below the directory, with `/`).
- WARC / WARC.gz (read with warcio): `response` records with an HTML body; the record's target
  URI is the URL, its `WARC-Date` (the capture time, not a publication date) goes to
  `metadata.warc_date`, the body is decoded by the charset the HTTP header declares (else
  UTF-8, else Windows-1252).

Every input counts its records from 1 in a fixed order: a checkpoint is "the first N records".
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard
from warcio.archiveiterator import ArchiveIterator

_PAGE_SUFFIXES = {".txt": "text", ".html": "html", ".htm": "html"}
_WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


@dataclass(frozen=True, slots=True)
class Record:
    """One record of an input: the article (POST /ingest shape) or why it could not be read.
    `where` names it for a person: `file:line`, `file#record` or the file's path. Neither
    article nor error: a record a checkpoint covers, counted but not read."""

    number: int
    where: str
    article: Any = None
    error: str | None = None


class Input:
    """One input, read from its start; `name` identifies it for checkpoints ("-": none)."""

    name: str
    kind: str

    def records(self, skip: int = 0) -> Iterator[Record]:
        """Every record in order; the first `skip` (a checkpoint's) only counted, as records
        without an article, not parsed or read."""
        raise NotImplementedError

    @property
    def resumable(self) -> bool:
        return self.name != "-"


class JsonLines(Input):
    kind = "jsonl"

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path if path == "-" else str(Path(path).resolve())

    def _open(self) -> IO[str]:
        if self.path == "-":
            return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
        if self.path.endswith(".gz"):
            return gzip.open(self.path, "rt", encoding="utf-8", errors="surrogateescape")
        if self.path.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(open(self.path, "rb"),  # noqa: SIM115
                                                            closefd=True)
            return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
        return open(self.path, encoding="utf-8", errors="surrogateescape")

    def records(self, skip: int = 0) -> Iterator[Record]:
        label = "<stdin>" if self.path == "-" else self.path
        number = 0
        with self._open() as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue  # blank lines are no records
                number += 1
                where = f"{label}:{line_number}"
                if number <= skip:
                    yield Record(number, where)
                    continue
                try:
                    yield Record(number, where, article=json.loads(line))
                except json.JSONDecodeError as exc:
                    yield Record(number, where, error=f"invalid JSON: {exc}")


class PageDirectory(Input):
    kind = "directory"

    def __init__(self, path: str, url_template: str | None) -> None:
        self.root = Path(path)
        self.name = str(self.root.resolve())
        self.url_template = url_template

    def records(self, skip: int = 0) -> Iterator[Record]:
        pages = sorted(p for p in self.root.rglob("*")
                       if p.is_file() and p.suffix.lower() in _PAGE_SUFFIXES)
        for number, page in enumerate(pages, start=1):
            if number <= skip:
                yield Record(number, str(page))
                continue
            try:
                yield Record(number, str(page), article=self._article(page))
            except (OSError, ValueError) as exc:
                yield Record(number, str(page), error=str(exc))

    def _article(self, page: Path) -> dict[str, Any]:
        article: dict[str, Any] = {}
        for sidecar in (page.with_suffix(".json"), page.with_name(page.name + ".json")):
            if sidecar.is_file():
                loaded = json.loads(sidecar.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError(f"{sidecar}: a sidecar must hold a JSON object")
                article.update(loaded)
                break
        if "url" not in article:
            if self.url_template is None:
                raise ValueError("no URL: put it in a sidecar JSON (story.json: {\"url\": …}) "
                                 "or pass --url-template")
            relative = page.relative_to(self.root).as_posix()
            article["url"] = self.url_template.format(stem=page.stem, name=page.name,
                                                      path=relative)
        data = page.read_bytes().decode("utf-8", errors="surrogateescape")
        article[_PAGE_SUFFIXES[page.suffix.lower()]] = data
        return article


class WarcFile(Input):
    kind = "warc"

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = str(Path(path).resolve())

    def records(self, skip: int = 0) -> Iterator[Record]:
        number = 0
        with open(self.path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                content_type = record.http_headers.get_header("Content-Type") or ""
                if "html" not in content_type.lower():
                    continue
                number += 1
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                where = f"{self.path}#{number}"
                if number <= skip:  # the record must be iterated over, not decoded
                    yield Record(number, where)
                    continue
                try:
                    body = record.content_stream().read()
                except Exception as exc:  # a truncated or corrupt record: reported, not fatal
                    yield Record(number, where, error=f"unreadable WARC record: {exc}")
                    continue
                metadata = {"warc_date": record.rec_headers.get_header("WARC-Date"),
                            "warc_record_id": record.rec_headers.get_header("WARC-Record-ID")}
                yield Record(number, where, article={
                    "url": uri, "html": _decode(body, content_type),
                    "metadata": {k: v for k, v in metadata.items() if v}})


def _decode(body: bytes, content_type: str) -> str:
    charset = None
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"' ")
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return body.decode("cp1252", errors="replace")


def open_input(path: str, url_template: str | None = None) -> Input:
    """The reader for a path, by what it is: a directory, a WARC, else JSON lines."""
    if path != "-" and Path(path).is_dir():
        return PageDirectory(path, url_template)
    if path.lower().endswith(_WARC_SUFFIXES):
        return WarcFile(path)
    if path != "-" and not Path(path).exists():  # a named pipe or /dev/fd/N reads as a file
        raise FileNotFoundError(f"{path}: no such file or directory")
    return JsonLines(path)
