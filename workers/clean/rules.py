"""The lexicon of cleaning: shapes of credits, captions, teasers and boilerplate lines.

Kept apart from `clean.py` so that the rules fit on one screen and the algorithm stays readable.
Every pattern describes a kind of line found on many sites, never one page or one site.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

WORD = re.compile(r"\w+")
DIGIT = re.compile(r"\d")
# Lines cached by text: a page's lines are tokenised once, not once per rule and pass (dedupe,
# labels, chrome keys), and a source's chrome lines recur on each of its pages. Big enough for
# the longest pages, so a pass over a page never evicts what the next pass reads.
_LINE_CACHE = 1 << 14


@lru_cache(maxsize=_LINE_CACHE)
def line_words(text: str) -> tuple[str, ...]:
    """`WORD.findall(text)`, cached."""
    return tuple(WORD.findall(text))


@lru_cache(maxsize=_LINE_CACHE)
def line_lower_words(text: str) -> tuple[str, ...]:
    """`WORD.findall(text.lower())`, cached: the comparison key's words."""
    return tuple(WORD.findall(text.lower()))

# Photo credits: an agency or "credit" word, usually after a comma or slash, with little else.
_AGENCY = (
    r"AFP|AP|Reuters|REUTERS|Getty(?: Images)?|EPA|Anadolu|Xinhua|Shutterstock|iStock(?:photo)?"
    r"|Bloomberg|Pool|File|Handout|dpa|DPA|ANSA|Sputnik|TASS|Wikimedia(?: Commons)?|Flickr"
    r"|Alamy|PA(?: Images| Wire)?|NurPhoto|SIPA|Sipa|Imago|Corbis|UPI|EFE|Kyodo|Yonhap"
)
CREDIT_LINE = re.compile(
    rf"""^(?:
        ,\s.*                                            # ", Russian Defence Ministry/AFP/File"
      | (?:photo|image|picture|foto|video)s?\s*(?:credit|courtesy|source)?s?\s*:.*
      | (?:credit|credits|source|courtesy|photograph|illustration)\s*:.*
      | (?:photo|photograph|image|picture|video|illustration)s?\s+(?:by|courtesy\s+of)\s.*
      | (?:©|\(c\)|copyright\b).{{0,80}}
      | [^.!?]{{0,60}}\b(?:{_AGENCY})(?:\s*/\s*[\w .'-]+)*\s*   # "Bulent Kilic, AFP/File"
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# A caption that carries its credit at the end: "... 2017. REUTERS/Khalil Ashawi",
# "... Credit: Reuters/Khalil Ashawi", "... in Syria [Anadolu]", "... (Getty Images)".
CREDIT_TAIL = re.compile(
    rf"""(?:
        \b(?:{_AGENCY})\s*/\s*[\w .'-]+
      | \b(?i:(?:photo|image|picture)?\s*credit)\s*:\s*[^.]+
      | \[(?:{_AGENCY}|[A-Z][\w-]+(?:\s[A-Z][\w-]+)?)\]
      | \((?:{_AGENCY})(?:\s*/\s*[\w .'-]+)?\)
      | \((?:AP\s+)?(?i:photo|image|picture|foto|credit)s?\b[^()]{{0,60}}\)   # "(Image: GETTY)"
    )\s*$""",
    re.VERBOSE,
)
CAPTION_START = re.compile(
    r"^(?:(?:above|below|top|left|right|pictured|photo|image|file\s+photo)\s*:"
    r"|in\s+this\s+(?:[\w.,]+\s+){0,8}?(?:file\s+)?(?:photo|image|picture)\b"  # AP style
    # A slideshow counter glued to its caption by text extraction: "1of4Grass Valley's ...".
    r"|\d{1,3}\s?of\s?\d{1,3}(?=[A-Z]))",
    re.IGNORECASE,
)

# A teaser: a line cut short and ended with an ellipsis, repeated in full nearby.
TEASER_END = re.compile(r"(?:\.\.\.|\[\.\.\.\])\s*$")

# Lines after which the article is over: comments, "you may also like", author bios.
END_MARKER = re.compile(
    r"""^(?:
        you\s+(?:may|might)\s+(?:also\s+)?(?:like|enjoy|be\s+interested)
      | read\s+(?:next|comments)\b.*
      | (?:no|\d+|view|show|load|leave\s+a|post\s+a|add\s+a)\s+comments?\b.*
      | comments?\s*(?:\(\d+\))?
      | written\s+by\b.{0,40}
      | about\s+the\s+(?:author|writer)s?\b.*
      | tags?\s*:.*
      | filed\s+under\b.*
      | leave\s+a\s+reply\b.*
      | .{0,60}\b(?:19|20)\d{2}\b.{0,30}\b(?:said|says|wrote|writes)\s*:?  # a comment's header
      | \d+\s+(?:comments?|responses?|replies|thoughts\s+on\b.*)
      | \d+\s+(?:responses?|replies)\s+to\s+["“”«»„].+  # WordPress's "12 Replies to “Title”"
      | (?:\w+\s+){0,3}(?:comments?|comentários|comentarios|kommentare|commentaires|commenti
         |комментарии|комментариев|댓글|评论|コメント)(?:\s+\w+){0,2}
      # "Leave a comment" in the singular: alone the word also labels a commentary piece
      # ("Kommentar", "Комментарий эксперта").
      | (?:добавить|оставить|написать)\s+комментарий\b.{0,30}
      | (?:lascia|lasciare)\s+un\s+commento\b.{0,30}
      | (?:deja|dejar|escribe)\s+un\s+comentario\b.{0,30}
      | (?:deixe|deixar)\s+(?:um|seu)\s+comentário\b.{0,30}
      | laisser\s+un\s+commentaire\b.{0,30}
      | kommentar\s+(?:schreiben|hinterlassen|verfassen)\b.{0,30}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Lines that open a box of links: often the end, but also found inside an article's body.
LINKS_MARKER = re.compile(
    r"""^(?:
        (?:related|recommended|more|popular|trending|latest|top)\s*
        (?:stories|articles|posts|news|reads|content|links|coverage|from\b.*|on\b.*)?\s*:?
      | also\s+read\b.*
      | (?:share|tweet)\s+this(?:\s+(?:article|story|post))?\b.{0,20}
      | sign\s+up\b.*newsletter.*
      | (?:subscribe|sign\s+up)\s+(?:to|for)\s+(?:our|the)\b.*
      | further\s+reading\b.*
      | explore\s+further
      | don'?t\s+miss\b.{0,20}
      | see\s+also\s*:?
      # "More World", "More in Politics"; not a comparison ("More expensive than Audible") nor
      # a sentence ("More posts ≠ more subscribers."), which list items and slogans are.
      | more\s+(?!.*\bthan\b)(?:from|in|on|about)?\s*\S+(?:\s+\S+){0,3}(?<!\w[.!?,])
      | (?:\S+\s+){0,3}(?:view|see|show)\s+all               # "Most Popular View all"
      | (?:вам\s+)?(?:также\s+)?(?:может\s+быть\s+интересно|читайте\s+также|похожие\s+\w+)
      | (?:lesen\s+sie\s+auch|vous\s+aimerez\s+aussi|à\s+lire\s+aussi|leia\s+também
         |te\s+puede\s+interesar|lee\s+también|leggi\s+anche)\b.{0,20}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

_SOCIAL = frozenset(
    (
        "facebook", "twitter", "whatsapp", "pinterest", "pint", "linkedin", "reddit", "tumblr",
        "telegram", "instagram", "youtube", "flipboard", "mix", "pocket", "email", "mail", "print",
        "share", "shares", "tweet", "pin", "copy", "link", "messenger", "sms", "vk",
    )
)  # fmt: skip


def is_share_bar(text: str) -> bool:
    """A row of sharing buttons: "Whatsapp Facebook Pint Baixar", "facebook twitter email"."""
    words = line_lower_words(text)
    return 0 < len(words) <= 8 and sum(w in _SOCIAL for w in words) >= max(2, len(words) / 2)


READING_TIME = re.compile(r"^\d+\s*(?:min(?:ute)?s?|mins)\s+read$", re.IGNORECASE)

_END_STRIP = " []()|-:*>»·•#"


def is_end_marker(text: str) -> bool:
    return bool(END_MARKER.match(text.strip(_END_STRIP)))


def is_links_marker(text: str) -> bool:
    return bool(LINKS_MARKER.match(text.strip(_END_STRIP)))


# Boilerplate lines: the whole line (or its start) is a label, a notice or a bare URL.
_BOILERPLATE_LINE = re.compile(
    r"""(?:
        (?:advertisement|advertising|sponsored(?:\s+content)?|ad)$
      | (?:share|shares|tweet|email|print|reply|menu|search|home|login|log\s+in|sign\s+in)$
      | (?:read|view|see|show|load)\s+(?:more|all)$          # a link's label
      | (?:follow\s+us|connect\s+with\s+us)\b
      | (?:read|see|watch|listen)\s+(?:more|also)\s*:     # an inline link to another story
      | citation\s*:
      | \S*https?://\S+$                                  # a bare URL
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Boilerplate phrases wherever they stand: cookie and copyright notices, e-mail addresses.
_BOILERPLATE_PHRASE = re.compile(
    r"""(?:
        \ball\s+rights\s+reserved\b
      | \b(?:this|our)\s+(?:web)?site\s+uses\s+cookies\b
      | \bcookie\s+policy\b
      # A consent panel: its settings, its categories ("Functional cookies help to ..."), what
      # each cookie does. Its prose outweighed a short body, or a copy that lost its tail; no
      # labelled body line of either dev set says so (where "apps that use cookies" does).
      # A category only beside the web's words: "essential cookies" also bake ("until the
      # cookies are set" is a recipe's).
      | \bcookies?\s+(?:consent|settings|preferences|banner|notice)\b
      | \b(?:necessary|functional|performance|analytic(?:s|al)|advertisement|advertising
           |marketing|targeting|essential)\s+cookies\b
           (?=.*\b(?:website|site|visitors?|users?|browser|consent|gdpr)\b)
      | \bwe\s+use\s+cookies\b
      | \b(?:accept|reject|manage)\s+(?:all\s+)?cookies\b
      | \bprivacy\s+policy\b
      | \bterms\s+(?:of\s+(?:use|service)|and\s+conditions)\b
      | \[email\s*protected\]
      | \b[\w.+-]+@[\w-]+\.[\w.]+\b
      | \bthis\s+(?:article|story|post)\s+(?:has\s+been|was)\s+(?:posted|published|written)\s+by\b
      | \bclick\s+here\b
      | \bnewsletter\b
      | \bsubscribe\b
      | \bjavascript\b
      | \bsubject\s+to\s+copyright\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# A phrase can only match a line holding one of these (lower-cased): a substring test in C is
# ~10x cheaper than trying the phrase alternation at every position, and most lines have none.
_PHRASE_CUES = (
    "reserved", "cookie", "privacy", "terms", "[", "@", "posted", "published", "written",
    "click", "newsletter", "subscribe", "javascript", "copyright",
)  # fmt: skip


# "Posted on <date> by <name>", "Updated on 20 Nov 2019": a byline or dateline is short or has
# a date. A sentence that starts alike is the article's ("Posted on social media by the
# analysts at Digital Foundry, the Stadia port ..." was dropped, and a copy that lost its tail
# was then too short to outweigh the deals teasers below it: mspoweruser.com, ARB).
_POSTED = re.compile(r"(?:posted|published|updated|last\s+updated)\s*(?:by|on|at|:)\b",
                     re.IGNORECASE)
POSTED_LINE_WORDS = 15


def is_posted_line(text: str) -> bool:
    """A byline or dateline: "Posted by ...", "Updated on ..." (see `_POSTED`)."""
    return bool(_POSTED.match(text)) and (len(line_words(text)) < POSTED_LINE_WORDS
                                          or any(c.isdigit() for c in text))


# A teaser whose link text and title (or image alt) were run together: the same words twice
# ("Best Black Friday deals on mattresses 2019 Best Black Friday deals on mattresses 2019").
# A line of 20 such words reads as prose; no labelled body line of either dev set is one.
DOUBLED_MIN_WORDS = 6


def is_doubled(text: str) -> bool:
    """The line says the same words twice in a row."""
    words = line_lower_words(text)
    half, odd = divmod(len(words), 2)
    return len(words) >= DOUBLED_MIN_WORDS and not odd and words[:half] == words[half:]


def is_boilerplate(text: str) -> bool:
    """A boilerplate label, notice or phrase."""
    if _BOILERPLATE_LINE.match(text) or is_posted_line(text):
        return True
    lower = text.lower()
    return any(cue in lower for cue in _PHRASE_CUES) and bool(_BOILERPLATE_PHRASE.search(text))


# A site's legal footer, however long (the phrase rules above only judge lines under 40 words,
# so a paragraph of prose that mentions a privacy policy stays prose): trademark and market-data
# notices. A footer of three such paragraphs tied with a short story's cut copy (CNN markets).
_LEGAL_NOTICE = re.compile(
    r"\b(?:is|are)\s+(?:a\s+|among\s+the\s+)?(?:federally\s+)?(?:registered\s+)?trademarks?\s+of\b"
    r"|\bquotes\s+(?:are\s+)?delayed\b|\bmarket\s+data\s+(?:is\s+)?provided\s+by\b",
    re.IGNORECASE,
)


def is_legal_notice(text: str) -> bool:
    """Two notices in one block, or one beside a copyright line: a footer's. One alone is
    prose as often ("Taco Tuesday is a registered trademark of Taco John's", in a story about
    the dispute)."""
    lower = text.lower()
    if not ("trademark" in lower or "delayed" in lower or "provided" in lower):
        return False
    notices = len(_LEGAL_NOTICE.findall(text))
    return notices >= 2 or (notices == 1 and ("©" in text or "all rights reserved" in lower
                                              or "copyright" in lower))


# An item of a bulleted list that continues a lead-in sentence ("A comment will be deleted if
# it:"): it starts in lower case and ends with ";" or ",". Paragraphs of prose start sentences;
# rules, terms and feature lists are built this way.
_LIST_ITEM_END = (";", ",")


def is_list_item(text: str) -> bool:
    return text[:1].islower() and text.rstrip().endswith(_LIST_ITEM_END)


_NUMERIC_DATE = re.compile(r"\b\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{1,2}:\d{2}\b")
_MONTH_DATE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+(?:19|20)\d{2}\b",
    re.IGNORECASE,
)
DATE_MAX_WORDS = 8


def is_date_line(text: str) -> bool:
    """A dateline or timestamp standing alone ("03 February, 2016", "11:09 31.05.2016")."""
    if not DIGIT.search(text):  # every date shape has a digit; most lines have none
        return False
    # Digits do not count as words here: "11:09 31.05.2016(updated 11:20 31.05.2016)".
    if sum(not w.isdigit() for w in line_words(text)) > DATE_MAX_WORDS:
        return False
    return bool(_NUMERIC_DATE.search(text) or _MONTH_DATE.search(text))


# Figures that are not data: when a line was written or a story dated ("~6 hours ago", "4h",
# "Nov. 28", "2019"). Teaser listings print them on every item; tables and results do not need them.
_RELATIVE_TIME = re.compile(
    r"\b\d+\s*(?:sec|min|minute|hr|hour|day|week|month|year|[smhdwy])s?\.?(?:\s+ago\b|\b)",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")


_FIGURE = re.compile(r"\d+")
# Share of a line's tokens that must be figures: a result ("Palm Bay d. Rockledge 70-44"), a
# table row or a recipe line is dense with them; a teaser sentence mentions one in passing
# ("... has 306 HP and a huge rear wing").
FIGURE_SHARE = 0.2


# A line of source code: an assignment, a call, a brace, a comment opener, a statement in code
# form ("import x", "def f(", "else:"). Not a line ending in ";" alone (a list of rules in prose
# ends its items so: Sputnik's comment policy, read as code, joined two stories' pages of one
# site in syndication-dev), nor a sentence that starts with "except" or "return". One line that
# looks so ("E = mc2", "Organization(WHO)") is nothing: only a dense run of them is data. (A
# call or assignment only at the line's start or end: syndication-wcxb R 0.929 -> 0.927.)
CODE_LINE = re.compile(
    r"""[{}]\s*$ | ^\s*[{}]
      | \w\s*[-+*/]?=\s*\S | \w\(.*\)              # x = 1, CONFIG["a"] += b, f(x)
      | ^(?:\#!|//|/\*|import\s+[\w.]+(?:\s+as\s+\w+)?\s*$|from\s+[\w.]+\s+import\s
         |def\s+\w+\(|class\s+\w+[:(]|(?:else|try|finally)\s*:\s*$|(?:elif|except)\b.*:\s*$
         |return\b\s*\S*\s*$)""",
    re.VERBOSE,
)


def looks_like_code(text: str) -> bool:
    return bool(CODE_LINE.search(text))


# Menu entries whose separators the text extraction lost: "School of CinemaSchool of Fine
# ArtsSchool of ...". A word that runs into the next capitalised one this often, in a line that
# does not end like a sentence, is a fused menu (names and brands, "iPhone", "McKinsey", are
# that dense only in a sentence, which ends as one).
FUSED_JOINS = 3
FUSED_WORDS_PER_JOIN = 6
_FUSED_JOIN = re.compile(r"[a-z][A-Z]")


def is_fused_menu(text: str, words: float) -> bool:
    """Menu entries run together; never a line that ends like a sentence ("McDonald's and
    McKinsey executives met LeBron James ..." has the joins, but is prose)."""
    joins = len(_FUSED_JOIN.findall(text))
    return (joins >= FUSED_JOINS and joins * FUSED_WORDS_PER_JOIN >= words
            and not SENTENCE_END.search(text))


def has_figures(text: str) -> bool:
    """The line is made of numbers other than dates, times and years: scores, prices, ranks."""
    if not DIGIT.search(text):
        return False
    tokens = len(WORD.findall(text))
    for pattern in (_NUMERIC_DATE, _MONTH_DATE, _RELATIVE_TIME, _YEAR):
        text = pattern.sub(" ", text)
    figures = len(_FIGURE.findall(text))
    return figures > 0 and figures >= FIGURE_SHARE * tokens


_LATIN_WORD = re.compile(r"[^\W\d_]+")
HEADLINE_PREFIX_WORDS = 8
HEADLINE_CAPITALISED = 0.75
HEADLINE_ALL_CAPITALISED = 0.875


def starts_like_headline(text: str, stop: frozenset[str] = frozenset()) -> bool:
    """The first words are Title Cased: a headline (a link teaser), not a sentence.

    Sentences open with a name or two ("Turkish President Recep Tayyip Erdogan on Wednesday");
    Title Case also capitalises the small words ("Is Violence In Sports On The Rise?").
    """
    words = [m.group() for m in islice(_LATIN_WORD.finditer(text), HEADLINE_PREFIX_WORDS)]
    cased = [w for w in words if w[0].isupper() or w[0].islower()]
    if len(cased) < HEADLINE_PREFIX_WORDS:
        return False
    share = sum(w[0].isupper() for w in cased) / len(cased)
    if share >= HEADLINE_ALL_CAPITALISED:
        return True
    small_capitalised = any(w[0].isupper() and len(w) <= 4 and w.lower() in stop for w in cased[1:])
    return share >= HEADLINE_CAPITALISED and small_capitalised


SENTENCE_END = re.compile(r"""[.!?。！？:;"')\]»]\s*$""")

# py3langid codes -> jusText stoplist names, for the stopword-density signal.
_STOPLIST_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan",
    "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "he": "Hebrew", "hi": "Hindi",
    "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "is": "Icelandic",
    "it": "Italian", "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "ku": "Kurdish",
    "la": "Latin", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam",
    "mr": "Marathi", "ms": "Malay", "nb": "Norwegian_Bokmal", "ne": "Nepali", "nl": "Dutch",
    "nn": "Norwegian_Nynorsk", "no": "Norwegian_Bokmal", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian",
    "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
}  # fmt: skip


@lru_cache(maxsize=64)
def stopwords(language: str | None) -> frozenset[str]:
    """jusText's stoplist for a language code; empty when unknown (the signal is then skipped).

    Reading the list is a one-off load of package data, cached, so extraction stays repeatable.
    """
    name = _STOPLIST_NAMES.get((language or "").split("-")[0].lower())
    if name is None:
        return frozenset()
    import justext  # local: only needed once per language

    return frozenset(justext.get_stoplist(name))
