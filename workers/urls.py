"""URL identity: the one normal form in which two spellings of the same page's address are equal.

Stored beside the raw URL (which is kept as sent) and applied to every lookup, so the same page
reached with an upper-case host, a default port, a trailing slash, a fragment or a newsletter's
tracking parameters is one address. Written here rather than taken from a library because the
normal form is a storage key: it must not change when a dependency is upgraded (courlan's
`normalize_url`, the nearest one, keeps fragments and grows its tracker list by release). If a
rule here ever changes, the stored keys need `canonry reindex-urls` — so rules are only added
with a migration.

The rules, in order:
- scheme: `http` and `https` are one (sites serve both; no newsroom means two stories by it);
- host: lower case, IDNA (punycode) form, no trailing dot, no leading `www.`; userinfo dropped;
- port: the scheme's default (80, 443) dropped;
- path: dot segments resolved, percent-encoding in one case (upper hex) with unreserved
  characters decoded and everything else encoded, one trailing slash dropped (but `/` kept);
- query: tracking parameters dropped (`utm_*`, `fbclid`, `gclid`, `mc_cid`, `ocid`, … below),
  the rest sorted, `+` read as a space, encoded like the path; empty query dropped;
- fragment: dropped, except a `#!` route (an AJAX page's address proper).
Paths and query values keep their case: servers are free to tell them apart.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

# Parameters that say how a reader arrived, never which page they read. Exact names, compared
# in lower case; `utm_` and the other prefixes below cover their families.
TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "ocid", "cmpid", "icid",
    "_ga", "_gl", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
    "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid", "s_cid", "s_kwcid",
    "sr_share", "smid", "smtyp", "spm", "ito", "guccounter", "guce_referrer",
    "guce_referrer_sig", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "cid_source", "wt.mc_id", "wt_mc_id", "xtor", "ref_src", "ref_url", "src_trk",
    "soc_src", "soc_trk", "trk", "trkcampaign",
    "amp_js_v", "amp_gsa", "usqp", "dicbo", "__twitter_impression",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_", "vgo_", "ga_", "fb_", "at_")
# RFC 3986 unreserved characters travel unencoded; the other reserved ones (sub-delims, ":",
# "@", "/") keep their role in a path.
_UNRESERVED = "-._~"
_PATH_SAFE = _UNRESERVED + "!$&'()*+,;=:@/%"
_QUERY_SAFE = _UNRESERVED + "!$'()*,;:@/"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED_BYTE = re.compile(r"[A-Za-z0-9\-._~]")
_ASCII_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


def normalize_url(url: str) -> str:
    """The normal form of an http(s) URL (see the module docstring). Anything that does not
    parse as one comes back stripped, as itself: it is then equal only to itself."""
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        host = _host(parts.hostname or "")
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return raw
    # The normal form is https: its default port goes too, or the form would not be its own.
    netloc = host if port in (None, 443, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit(("https", netloc, _path(parts.path), _query(parts.query), fragment))


def url_key(url: str) -> str:
    """A fixed-size key of the normal form, for indexes: URLs may be kilobytes long."""
    return hashlib.blake2b(normalize_url(url).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    with suppress(UnicodeError):  # not IDNA-encodable (a label too long): compared as written
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def _path(path: str) -> str:
    segments: list[str] = []
    for segment in _recode(path, _PATH_SAFE).split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    if segments and not segments[-1]:
        segments.pop()  # one trailing slash: "/a/" is "/a"
    return "/" + "/".join(segments)


def _query(query: str) -> str:
    """Parameters decoded byte for byte (latin-1 maps each byte to one character, so no two
    spellings collide and none is lost), tracking ones dropped, sorted, re-encoded."""
    ascii_query = quote(query, safe=_ASCII_PRINTABLE)
    pairs = sorted((k, v) for k, v in parse_qsl(ascii_query, keep_blank_values=True,
                                                encoding="latin-1")
                   if not _is_tracking(k))
    return "&".join(f"{quote(k, safe=_QUERY_SAFE, encoding='latin-1')}="
                    f"{quote(v, safe=_QUERY_SAFE, encoding='latin-1')}" for k, v in pairs)


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMETERS or name.startswith(TRACKING_PREFIXES)


def _recode(part: str, safe: str) -> str:
    """One spelling of each character: unreserved escapes decoded, other escapes in upper hex,
    everything that needs an escape given one (non-ASCII as UTF-8)."""
    def escape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if _UNRESERVED_BYTE.fullmatch(char) else "%" + match.group(1).upper()

    decoded = _ESCAPE.sub(escape, part)
    return quote(decoded, safe=safe)

