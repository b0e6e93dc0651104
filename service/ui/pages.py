"""The pages, as functions of what they show. Every string goes through `markup.el`, which
escapes it: titles, texts, URLs and sources are the publishers' (hostile input)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from itertools import groupby
from urllib.parse import urlencode, urlsplit

from canonry.schemas.api import DocumentOut, ProvenanceOut
from canonry.service.ui.compare import Overlap, Token, verifies
from canonry.service.ui.markup import Child, Markup, el, page
from canonry.service.ui.queries import StoryPage
from canonry.service.ui.stripped import NOT_MAIN_CONTENT, VERDICTS, Line

UI = "/ui"
KEY_FORM = f"{UI}/key"
CSS = (files("canonry.service.ui") / "static" / "ui.css").read_text(encoding="utf-8")
# The one inline style the pages carry, allowed by its hash: no other style or any script runs.
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def story_url(document_id: str) -> str:
    return f"{UI}/stories/{document_id}"


def copy_url(document_id: str, ingest_id: str) -> str:
    return f"{UI}/stories/{document_id}/copies/{ingest_id}"


def stripped_url(ingest_id: str) -> str:
    return f"{UI}/ingests/{ingest_id}/stripped"


def when(value: datetime | None) -> Markup:
    if value is None:
        return el("span", "—", aria_label="unknown")
    return el("time", value.strftime("%Y-%m-%d %H:%M UTC"), datetime=value.isoformat())


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def external(url: str) -> Markup:
    """A publisher's URL as text, and as a link only when it is http(s) (never javascript:)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # not a URL at all
        scheme = ""
    if scheme in ("http", "https"):
        return el("a", url, href=url, class_="url", rel="noreferrer noopener")
    return el("span", url, class_="url")


def layout(title: str, *content: Child, keyed: bool = False) -> Markup:
    """The frame of every page; `keyed`: a key is kept in this browser (offer to forget it)."""
    forget = el("form", el("button", "Forget API key", type="submit", class_="link"),
                method="post", action=f"{UI}/logout") if keyed else None
    return page(el(
        "html",
        el("head", el("meta", charset="utf-8"),
           el("meta", name="viewport", content="width=device-width, initial-scale=1"),
           el("meta", name="referrer", content="no-referrer"),
           el("title", f"{title} · Canonry"),
           el("style", Markup(CSS))),
        el("body",
           el("a", "Skip to content", href="#main", class_="skip"),
           el("header",
              el("a", "Canonry", href=f"{UI}/", class_="brand"),
              el("nav", el("a", "Stories", href=f"{UI}/"), el("a", "API docs", href="/docs"),
                 forget, aria_label="Main"),
              class_="site"),
           el("main", *content, id="main", tabindex="-1")),
        lang="en"))


def _td(label: str, *children: Child, **attrs: str | None) -> Markup:
    """A cell of a responsive table: on a phone it shows as `label: content` (see ui.css)."""
    return el("td", el("div", *children), data_label=label, **attrs)


def _field(label: str, name: str, value: str | None, kind: str = "search",
           hint: str | None = None) -> Markup:
    field_id = f"f-{name}"
    return el("div", el("label", label, for_=field_id),
              el("input", type=kind, id=field_id, name=name, value=value or "",
                 aria_describedby=f"{field_id}-hint" if hint else None, autocomplete="off"),
              el("small", hint, id=f"{field_id}-hint") if hint else None)


@dataclass(frozen=True, slots=True)
class StoryFilters:
    words: str | None = None
    source: str | None = None
    url: str | None = None


def stories(listing: StoryPage, filters: StoryFilters, notice: str | None = None,
            keyed: bool = False) -> Markup:
    form = el("form",
              _field("Title words", "q", filters.words, hint="every word must appear"),
              _field("Source", "source", filters.source, kind="text", hint="exactly, e.g. "
                     "example.com"),
              _field("URL", "url", filters.url, kind="url", hint="any variant of a copy's URL"),
              el("div", el("button", "Search", type="submit")),
              method="get", action=f"{UI}/", class_="search", role="search")
    rows = [el("tr",
               _td("Story", el("a", s.title or "(untitled)", href=story_url(s.id))),
               _td("Source", s.source),
               _td("Language", s.language or "—"),
               _td("Copies", s.copies, class_="num"),
               _td("First seen", when(s.first_seen_at)),
               data_document_id=s.id)
            for s in listing.stories]
    table = el("div", el("table",
                         el("caption", "Stories, most recently changed first",
                            ),
                         el("thead", el("tr", el("th", "Story", scope="col"),
                                        el("th", "Source", scope="col"),
                                        el("th", "Language", scope="col"),
                                        el("th", "Copies", scope="col", class_="num"),
                                        el("th", "First seen", scope="col"))),
                         el("tbody", rows), id="stories", class_="responsive"),
               class_="table-wrap") if rows else el("p", "No stories match.")
    pager = None
    if listing.older is not None:
        query = {k: v for k, v in (("q", filters.words), ("source", filters.source)) if v}
        query["before"] = str(listing.older)
        pager = el("p", el("a", "Older stories →", href=f"{UI}/?{urlencode(query)}",
                           rel="next"), class_="pager")
    return layout("Stories", el("h1", "Stories"), form,
                  el("p", notice, class_="notice", role="status") if notice else None,
                  table, pager, keyed=keyed)


@dataclass(frozen=True, slots=True)
class CopyRow:
    copy: ProvenanceOut
    overlap: Overlap | None  # None: no text is left after cleaning it now
    canonical: bool  # its text is the document's canonical text


@dataclass(frozen=True, slots=True)
class NearMiss:
    document_id: str
    title: str | None
    jaccard: float
    containment: float
    would_match: bool


def _copies_table(document: DocumentOut, rows: list[CopyRow]) -> Markup:
    body = []
    for row in rows:
        c, o = row.copy, row.overlap
        body.append(el(
            "tr",
            _td("Copy", c.source, el("br"), external(c.url),
                el("br") if row.canonical else None,
                el("strong", "canonical text") if row.canonical else None),
            _td("Received", when(c.received_at)),
            _td("Published", when(c.published_at)),
            _td("Match", c.match, class_="match"),
            _td("Similarity (decision)", score(c.similarity), class_="num similarity"),
            _td("Jaccard", score(o.jaccard if o else None), class_="num jaccard"),
            _td("Containment", score(o.containment if o else None),
                class_="num containment"),
            _td("Verifies now?", ("yes" if verifies(o) else "no") if o else "—",
                class_="verifies"),
            _td("Open", el("a", "Compare", href=copy_url(document.id, c.ingest_id),
                           aria_label=f"Compare the copy from {c.source}"),
                " · ",
                el("a", "What was stripped", href=stripped_url(c.ingest_id),
                   aria_label=f"What was stripped from the copy from {c.source}")),
            data_ingest_id=c.ingest_id))
    return el("div", el(
        "table",
        el("thead", el("tr", el("th", "Copy", scope="col"), el("th", "Received", scope="col"),
                       el("th", "Published", scope="col"), el("th", "Match", scope="col"),
                       el("th", el("abbr", "Similarity", title="the verifying score when the "
                                   "copy was decided (MinHash estimate)"),
                          scope="col", class_="num"),
                       el("th", "Jaccard", scope="col", class_="num"),
                       el("th", "Containment", scope="col", class_="num"),
                       el("th", "Verifies now?", scope="col"),
                       el("th", "Open", scope="col"))),
        el("tbody", body), id="copies", class_="responsive"), class_="table-wrap")


def _paragraphs(text: str) -> list[Markup]:
    return [el("p", p) for p in text.split("\n\n") if p.strip()]


def story(document: DocumentOut, rows: list[CopyRow], more_copies: str | None,
          near: list[NearMiss], thresholds: str, keyed: bool = False) -> Markup:
    meta = el("ul",
              el("li", "Source: ", document.source),
              el("li", "Language: ", document.language or "unknown"),
              el("li", "First seen: ", when(document.first_seen_at)),
              el("li", "Published: ", when(document.published_at)),
              el("li", f"Version {document.version}"),
              el("li", f"{document.provenance_count} copies", id="copy-count"),
              class_="meta")
    pager = el("p", el("a", "More copies →", href=f"{story_url(document.id)}?"
                       f"{urlencode({'after': more_copies})}", rel="next"),
               class_="pager") if more_copies else None
    near_section: list[Child] = [el("h2", "Near misses", id="near-misses")]
    if near:
        near_section.append(el("p", "The nearest other documents the index proposes for this "
                               "text, with MinHash estimates (what the matcher verifies). ",
                               thresholds))
        near_section.append(el("div", el(
            "table",
            el("thead", el("tr", el("th", "Document", scope="col"),
                           el("th", "Jaccard (est.)", scope="col", class_="num"),
                           el("th", "Containment (est.)", scope="col", class_="num"),
                           el("th", "Verified as one story?", scope="col"))),
            el("tbody", [el("tr",
                            _td("Document", el("a", n.title or n.document_id,
                                               href=story_url(n.document_id))),
                            _td("Jaccard", score(n.jaccard), class_="num"),
                            _td("Containment", score(n.containment), class_="num"),
                            _td("Verified?", "yes" if n.would_match else "no"),
                            data_document_id=n.document_id) for n in near]),
            id="near", class_="responsive"), class_="table-wrap"))
    else:
        near_section.append(el("p", "The index proposes no other document for this text."))
    return layout(
        document.title or "Story",
        el("h1", document.title or "(untitled)"), meta,
        el("p", "Canonical URL: ", external(document.url)),
        el("h2", "Copies", id="copies-heading"),
        el("p", "Jaccard and containment compare each copy, cleaned as the worker cleans it "
                "with what its source's boilerplate model knows now, with the canonical text: "
                "exact figures on their word 5-gram sets. “Verifies now?” applies the "
                "matcher's thresholds to them; a copy that matched but no longer verifies was "
                "cleaned differently when it was decided (the boilerplate model has learned "
                "since — compare it without learned boilerplate to see)."),
        _copies_table(document, rows), pager,
        near_section,
        el("h2", "Canonical text", id="canonical"),
        el("div", _paragraphs(document.text), class_="prose", lang=document.language),
        keyed=keyed)


def _marked(paragraphs: list[list[Token]]) -> list[Markup]:
    """Paragraphs with every run of tokens the other text does not share in a <mark>."""
    out = []
    for paragraph in paragraphs:
        runs: list[Child] = []
        for shared, group in groupby(paragraph, key=lambda token: token.shared):
            text = "".join(token.text for token in group)
            runs.append(text if shared else el("mark", text.rstrip(), class_="only"))
            if not shared and text != text.rstrip():
                runs.append(" ")
        out.append(el("p", runs))
    return out


def compare(document: DocumentOut, copy: ProvenanceOut, overlap: Overlap | None,
            left: list[list[Token]], right: list[list[Token]], learned: bool,
            keyed: bool = False) -> Markup:
    legend = el("p", el("mark", "Highlighted", class_="only"), " words lie outside every "
                "word 5-gram the other text shares (the overlap Jaccard and containment count): "
                "what this text has and the other lacks, or words changed around it.",
                class_="legend")
    figures = el("ul",
                 el("li", "Match: ", copy.match),
                 el("li", "Similarity at decision: ", score(copy.similarity)),
                 el("li", "Jaccard: ", score(overlap.jaccard if overlap else None)),
                 el("li", "Containment: ", score(overlap.containment if overlap else None)),
                 el("li", "Verifies now: ", ("yes" if verifies(overlap) else "no")
                    if overlap else "—"),
                 el("li", "In runs shared in order, single edits forgiven: "
                    f"Jaccard {overlap.aligned.jaccard:.3f}, containment "
                    f"{overlap.aligned.containment:.3f}")
                 if overlap and overlap.aligned is not None else None,
                 el("li", "Shared 5-grams: ",
                    f"{overlap.shared} of {overlap.sizes[0]} / {overlap.sizes[1]}"
                    if overlap else "—"),
                 class_="meta")
    return layout(
        f"Copy from {copy.source}",
        el("h1", "The copy from ", copy.source, " beside the canonical text"),
        el("p", el("a", "← ", document.title or "the story", href=story_url(document.id)),
           " · ", el("a", "What was stripped from this copy",
                     href=stripped_url(copy.ingest_id))),
        el("p", "The copy is cleaned ",
           "with its source's learned boilerplate, as the worker cleans it now. "
           if learned else "without learned boilerplate (the rules alone). ",
           el("a", "Clean it without learned boilerplate" if learned
              else "Clean it with learned boilerplate",
              href=copy_url(document.id, copy.ingest_id) + ("?learned=0" if learned else ""))),
        figures, legend,
        el("div",
           el("section", el("h2", "Canonical text"), _marked(left),
              aria_label="Canonical text", lang=document.language),
           el("section", el("h2", "Copy: ", copy.source), el("p", external(copy.url)),
              _marked(right), aria_label="This copy", id="copy-text"),
           class_="compare"),
        keyed=keyed)


def stripped(ingest_id: str, url: str, source: str, lines: list[Line], counts: dict[str, int],
             from_html: bool, story_link: str | None, keyed: bool = False) -> Markup:
    items = []
    for line in lines:
        label, _ = VERDICTS[line.verdict]
        items.append(el(
            "li",
            el("span", "kept" if line.kept else f"removed: {label}",
               class_="badge kept" if line.kept else "badge"),
            el("span", line.text, class_="text"),
            class_="kept" if line.kept else "removed", data_verdict=line.verdict))
    legend = el("dl", [(el("dt", VERDICTS[v][0]), el("dd", f"{n} — {VERDICTS[v][1]}"))
                       for v, n in counts.items()], class_="counts", id="counts")
    source_note = ("An HTML page: the lines are what the HTML extractor (trafilatura) chose as "
                   "the main content, each judged by the cleaner; the rest of the page's "
                   "visible text is marked “" + VERDICTS[NOT_MAIN_CONTENT][0] + "”."
                   if from_html else "A text page: every line as it was sent, each judged by "
                   "the cleaner.")
    return layout(
        "What was stripped",
        el("h1", "What was stripped"),
        el("ul", el("li", "Source: ", source), el("li", "URL: ", external(url)),
           el("li", "Ingest: ", el("code", ingest_id)), class_="meta"),
        el("p", el("a", "← the story", href=story_link)) if story_link else None,
        el("p", source_note, " Re-cleaned now with the source's boilerplate model as it "
                "stands, through the worker's own code path."),
        el("h2", "Lines by verdict"), legend,
        el("h2", "The page, line by line"),
        el("ol", items, class_="lines", id="lines"),
        keyed=keyed)


def key_form(next_path: str, error: str | None = None, open_service: bool = False) -> Markup:
    if open_service:
        return layout("API key", el("h1", "No API key needed"),
                      el("p", "This service runs without API keys. ",
                         el("a", "Go to the stories", href=next_path)))
    return layout(
        "API key",
        el("h1", "Enter an API key"),
        el("p", "The story viewer needs a key with the ", el("code", "read"), " scope. It is "
                "kept in this browser for the session only (an HttpOnly cookie, sent to the "
                "viewer's pages alone), never in an address."),
        el("p", error, class_="error", role="alert", id="key-error") if error else None,
        el("form",
           el("div", el("label", "API key", for_="f-key"),
              el("input", type="password", id="f-key", name="key", required=True,
                 autocomplete="current-password",
                 aria_describedby="key-error" if error else None)),
           el("input", type="hidden", name="next", value=next_path),
           el("p", el("button", "Continue", type="submit")),
           method="post", action=KEY_FORM, class_="key"))


def error(status: int, message: str, keyed: bool = False) -> Markup:
    return layout(f"Error {status}", el("h1", f"{status}: {message}"),
                  el("p", el("a", "Back to the stories", href=f"{UI}/")), keyed=keyed)
