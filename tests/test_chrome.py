from canonry.workers.article import RawArticle
from canonry.workers.clean.chrome import ChromeModel, line_key
from canonry.workers.clean.extract import extract, extract_page

WIRE = (
    "Russia said Thursday it was ready to discuss a ceasefire in Syria as foreign ministers "
    "gathered in Munich in a bid to kick-start peace talks derailed by the regime onslaught."
)
MENU = ["Connect with us", "Hi, what are you looking for?", "World", "Tech & Science"]


def _page(i: int, *body: str) -> list[str]:
    return [*MENU, f"Story number {i} headline here", *body, "You may also like:"]


def test_line_key_ignores_typography() -> None:
    assert line_key("Russia’s “plan”") == line_key('Russia\'s "PLAN"')
    assert line_key("...") == ""


def test_per_source_chrome_is_learned() -> None:
    model = ChromeModel()
    for i in range(5):
        model.observe("site-a", _page(i, f"Body paragraph {i} with its own words."))
    assert model.is_chrome("site-a", "Hi, what are you looking for?")
    assert not model.is_chrome("site-a", "Body paragraph 1 with its own words.")
    # Another source has not shown this menu: not chrome there (one source is not "many").
    assert not model.is_chrome("site-b", "Hi, what are you looking for?")


def test_short_lines_common_to_many_sources_are_chrome_everywhere() -> None:
    model = ChromeModel()
    for s in range(6):
        model.observe(f"site-{s}", ["Share this article", f"Unique line {s}"])
    assert model.is_chrome("brand-new-site", "Share this article")


def test_wire_prose_on_many_sources_is_never_chrome() -> None:
    model = ChromeModel()
    for s in range(50):
        # The same AFP paragraph, once on each of 50 sites.
        model.observe(f"site-{s}", [*MENU, WIRE])
    assert not model.is_chrome("site-0", WIRE)
    assert not model.is_chrome("brand-new-site", WIRE)
    # Still survives when a source re-sends the story a few times (updates, corrections).
    for _ in range(4):
        model.observe("site-0", [*MENU, WIRE])
    assert not model.is_chrome("site-0", WIRE)


def test_wire_paragraph_survives_extraction_with_learned_chrome() -> None:
    model = ChromeModel()
    other = (
        "Tens of thousands of Syrians have fled to the Turkish border as government forces, "
        "backed by Russian bombers, bombard the northern city, leaving the opposition surrounded."
    )
    pages = {}
    for source in ("site-a.example", "site-b.example"):
        for i in range(6):
            lines = _page(
                i,
                f"Unrelated story {i} from {source} is told here in full sentences, "
                "with enough words to count as prose for the cleaner.",
            )
            model.observe(source, lines)
        pages[source] = "\n\n".join(_page(99, WIRE, other))
    for source, text in pages.items():
        article = RawArticle(url=f"https://{source}/story", text=text, source=source)
        model.count_page(source, extract_page(article)[1])
        out = extract(article, chrome=model).text
        assert WIRE in out and other in out
        assert "Connect with us" not in out


def test_memory_stays_bounded() -> None:
    model = ChromeModel(max_lines_per_source=100)
    for i in range(50):
        model.observe("site-a", ["menu", *(f"line {i} {j}" for j in range(10))])
    assert len(model.lines["site-a"]) <= 100
    assert model.is_chrome("site-a", "menu")


def test_counting_pages_learns_a_source_s_chrome() -> None:
    model = ChromeModel()
    body = (
        "The council approved the new budget on Tuesday after a long debate about schools, "
        "roads and the library, which will open on Sundays from next spring."
    )
    more = (
        "Residents who spoke at the meeting asked for more buses on the northern routes, and the "
        "mayor promised a study before the summer recess."
    )
    chrome_line = "Town News is published every weekday by the Valley Media Group."
    outs = []
    for i in range(4):
        text = "\n\n".join(
            [
                f"Headline number {i}",
                f"{body} Story {i}.",
                chrome_line,
                f"Story {i} continues. {more}",
            ]
        )
        extracted, keys = extract_page(RawArticle(url=f"https://town.example/{i}", text=text),
                                       model)
        model.count_page("town.example", keys)
        outs.append(extracted)
    assert model.pages["town.example"] == 4
    assert chrome_line in outs[0].text  # not learned yet: it reads like a sentence
    assert model.is_chrome("town.example", chrome_line)
    assert chrome_line not in outs[3].text
    assert outs[3].text.endswith(more)
