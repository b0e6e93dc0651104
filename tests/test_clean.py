"""Each cleaning rule on real snippets from the seeds and the dev pages."""

import re
import sys
from dataclasses import replace

from canonry.workers.clean import rules
from canonry.workers.clean.blocks import (
    DEFAULT_OPTIONS,
    clean_blocks,
    drop_captions,
    drop_repeats,
    drop_teasers,
    is_caption,
    is_credit,
)
from canonry.workers.clean.body import DEFAULT_BODY, Label, label_block, select_run
from canonry.workers.clean.parse import Block, parse_text
from canonry.workers.clean.rules import (
    has_figures,
    is_boilerplate,
    is_date_line,
    is_doubled,
    is_end_marker,
    is_legal_notice,
    is_links_marker,
    is_posted_line,
    starts_like_headline,
    stopwords,
)
from tests import synthetic

EN = stopwords("en")
P1 = (
    "Russia said Thursday it was ready to discuss a ceasefire in Syria as foreign ministers "
    "gathered in Munich in a bid to kick-start peace talks derailed by the regime onslaught."
)
P2 = (
    "Tens of thousands of Syrians have fled to the Turkish border as government forces, backed "
    "by Russian bombers and Iranian fighters, bombard the northern city."
)
P3 = (
    "Analysts see little hope of reconciling the fundamental differences, and diplomats say "
    "the talks could collapse again within days if the bombing does not stop."
)

P4 = (
    "The US special envoy for the fight against the Islamic State group said the bombing campaign "
    "was directly enabling the jihadists, and that it had to end before any talks could resume."
)
P5 = (
    "Syria is a crucial ally and military staging post for Russia and Iran, while a growing number "
    "of observers say Moscow has benefited from the chaos created by the war in the region."
)
P6 = (
    "Washington has been reluctant to involve itself in another war after the quagmires of "
    "Afghanistan and Iraq, and is more concerned about combating the jihadists than anything else."
)

P7 = (
    "Even the outgoing French foreign minister could not hide his frustration as he announced "
    "his resignation on Wednesday, saying there was no strong commitment from his allies."
)
P8 = (
    "Many have also criticised the United States for not doing more to support the rebels, who "
    "still have the backing of Saudi Arabia and other Gulf countries as they dig in."
)

BIO = (
    "With 2,400 staff representing 100 different nationalities, AFP covers the world as a "
    "leading global news agency. AFP provides fast, comprehensive and verified coverage."
)


def _blocks(*lines: str) -> list[Block]:
    return [Block(line, i) for i, line in enumerate(lines)]


def _texts(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks]


def test_repeated_body_in_two_quote_styles_is_kept_once() -> None:
    # Seed 002: the AFP body pasted twice, once with straight and once with curly quotes.
    quoted = 'Russia\'s deputy foreign minister said Moscow was "ready to discuss" a ceasefire.'
    body = [quoted, P2, P3]
    curly = [quoted.replace("'", "’").replace(' "', " “").replace('" ', "” "), P2, P3]
    page = parse_text("\n\n".join(body + curly))
    assert [b.text for b in drop_repeats(page.blocks)] == [quoted, P2, P3]


def test_a_block_made_of_earlier_sentences_is_a_copy() -> None:
    # The whole body re-joined into one line at the foot of the page (a metadata dump).
    blocks = _blocks(P1, P2, P3, "Tags: Syria", f"{P1} {P2} {P3}")
    assert _texts(drop_repeats(blocks)) == [P1, P2, P3, "Tags: Syria"]


def test_short_repeats_are_legitimate() -> None:
    # An interview asks every guest the same question; each answer differs.
    question = "What inspired you to start a cooking page?"
    blocks = _blocks(question, P1, question, P2, question, P3)
    assert drop_repeats(blocks) == blocks


def test_truncated_teaser_before_its_full_line_is_dropped() -> None:
    blocks = _blocks(
        "More than 260 000 people have been killed and half the population displaced since "
        "Syria's confl...",
        "More than 260,000 people have been killed and half the population displaced since "
        "Syria's conflict began in 2011",
    )
    assert _texts(drop_teasers(blocks)) == [blocks[1].text]
    # An ellipsis ending without its full line nearby is prose and stays.
    lone = _blocks("He paused... and then went on.", P1)
    assert drop_teasers(lone) == lone


def test_caption_group_with_credit_is_dropped() -> None:
    # Seed 002: teaser, full caption and credit printed as one paragraph group.
    blocks = [
        Block(P1, 0),
        Block("More than one million Syrians are living under siege an NGO report says", 1),
        Block("Bulent Kilic, AFP/File", 1),
        Block(P2, 2),
        Block("Russia launched its Syrian air campaign on September 30", 3),
        Block(", Russian Defence Ministry/AFP/File", 3),
    ]
    assert _texts(drop_captions(blocks)) == [P1, P2]


def test_self_credited_captions_are_dropped() -> None:
    captions = [
        "Rebel fighters carry their weapons on the outskirts of Al-Bab town in Syria "
        "January 22, 2017. REUTERS/Khalil Ashawi",
        "Rebel fighters carry their weapons on the outskirts of Al-Bab town in Syria. "
        "Credit: Reuters/Khalil Ashawi",
        'Lavrov (L) said Russian airstrikes would continue until all "terrorists" are defeated '
        "in Syria [Anadolu]",
        "Above: A WeWork coworking space in San Francisco.",
        # A gallery's slide counter glued to its caption by the text extraction.
        "1of4Grass Valley's Dionicio Torres looks at the gas can selection before taking the "
        "last 5-gallon gas can on the shelves at B&C Ace Hardware.",
    ]
    assert _texts(drop_captions(_blocks(P1, *captions, P2))) == [P1, P2]


def test_credit_shapes() -> None:
    for credit in (
        "Bulent Kilic, AFP/File",
        "Jacquelyn Martin, Pool/AFP/File",
        "Loaui Beshara, AFP",
        "Image Credit: WeWork",
        "Photo: Getty Images",
    ):
        assert is_credit(credit), credit
    # A pull quote's attribution is not a photo credit (seed 003).
    assert not is_credit("-Salem al-Muslet, HNC spokesperson")
    assert not is_credit(P1)


def test_tails_are_end_markers() -> None:
    for line in (
        "You may also like:",
        "Read Comments",
        "No Comments",
        "Written By",
        "[ 167 comments ]",
        "Milan Griffes on September 12, 2018 at 4:47 pm said:",
        "15 Replies to “Open-sourcing CORE One CAD Files”",  # WordPress's comment heading
        "2 Responses to \"Holiday Gift Guide\"",
        "12 thoughts on “Forget Paper”",
        "Добавить комментарий Отменить ответ",  # "Leave a comment Cancel reply"
        "Lascia un commento",
    ):
        assert is_end_marker(line), line
    # The singular alone also labels a commentary piece, above or inside its body.
    for label in ("Kommentar", "Комментарий эксперта", "Il commento del direttore"):
        assert not is_end_marker(label), label
    # Boxes of links also sit inside bodies: a weaker signal of their own.
    for line in ("Related Stories", "More Washington Examiner", "Also read:",
                 "Most Popular View all", "Вам также может быть интересно", "Читайте также:",
                 "Lesen Sie auch:"):
        assert is_links_marker(line) and not is_end_marker(line), line
    # A link's bare label is boilerplate; a sentence that starts alike is not.
    assert is_boilerplate("Read More") and is_boilerplate("View all")
    assert not is_boilerplate("Read more about the plan in the council's report.")
    assert not is_links_marker("The jury did not see all of the evidence, the judge said.")
    # "More <section>" opens a box of links; a list item comparing, or a slogan, does not (a
    # review's "Cons:" list, "More expensive than other options", cut the review at its first).
    assert is_links_marker("More in Politics") and is_links_marker("More Washington Examiner")
    for item in ("More expensive than other options", "More posts ≠ more subscribers."):
        assert not is_links_marker(item), item
    assert not is_end_marker(P1)
    assert not is_end_marker("Hard going")
    # Only the comment heading's own shape, with its quoted title, ends the article.
    for sentence in ("3 responses to the crisis have emerged since Monday",
                     "2 replies to a question from the committee were published"):
        assert not is_end_marker(sentence), sentence


def test_metadata_lines() -> None:
    assert is_date_line("03 February, 2016")
    assert is_date_line("11:09 31.05.2016(updated 11:20 31.05.2016)")
    assert not is_date_line(
        "Russia launched its Syrian air campaign on September 30 2015 "
        "with strikes on rebel positions around Homs and Hama"
    )
    assert label_block("5 min read", EN)[0] is Label.META
    assert (
        label_block(
            "This article has been posted by a News Hour Correspondent. For "
            "queries, please contact through [email protected]",
            EN,
        )[0]
        is Label.BOILER
    )


def test_headline_teasers_are_not_prose() -> None:
    assert starts_like_headline(
        "Is Violence In Sports On The Rise?Violence is part of the game in many sports", EN
    )
    # A news sentence that opens with a long name is still a sentence (seed 002).
    assert not starts_like_headline(
        "Turkish President Recep Tayyip Erdogan on Wednesday furiously criticised the US", EN
    )


def test_a_teaser_said_twice_is_not_prose() -> None:
    """A link's text and its title run together: 20 words that read as prose (nypost.com, ARB:
    a column of them outweighed a short story's copy)."""
    teaser = "Slash an extra 15% off these early Black Friday sales on laptops and phones today"
    doubled = f"{teaser} {teaser}"
    # The precondition: long enough to be prose without a sentence's end.
    assert len(doubled.split()) >= DEFAULT_BODY.unpunctuated_prose_words
    assert is_doubled(doubled) and label_block(doubled, EN)[0] is Label.SHORT
    assert not is_doubled("Bye bye")  # a short line says little twice: under six words
    assert not is_doubled("The cat sat on the mat and the cat sat on the rug")


def test_body_is_the_run_of_prose_with_its_subheadings() -> None:
    page = parse_text(
        "\n\n".join(
            [
                "Connect with us",
                "Hi, what are you looking for?",
                "World",
                "Russia ready to discuss Syria ceasefire at international talks",
                "-",
                P1,
                P2,
                "- 'Russia destabilising the West' -",
                P3,
                "AFP",
                "Written By",
                BIO,
                "You may also like:",
                "Life",
                "Their stories are divided into before and after.",
            ]
        )
    )
    cleaned = clean_blocks(page.blocks, "en")
    assert cleaned.paragraphs == [P1, P2, "- 'Russia destabilising the West' -", P3]
    assert cleaned.before[-2] == "Russia ready to discuss Syria ceasefire at international talks"


def test_comments_after_the_article_are_not_the_body() -> None:
    comment = (
        "I think this is it. The slimmer bezels, updated thermal design, and the keyboard "
        "are the redesign, they just did not want to say so in public, which is fine. "
    )
    page = parse_text(
        "\n\n".join(
            [
                P1,
                P2,
                P3,
                P4,
                P5,
                "[ 167 comments ]",
                "Top Rated Comments",
                comment * 3,
                comment * 2,
                comment * 4,
            ]
        )
    )
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3, P4, P5]


def test_the_comments_under_a_short_story_are_not_its_body() -> None:
    """A news brief (or a copy cut to its first paragraphs) of about a hundred words: the
    comments after "N comments" are discounted all the same, and do not outweigh it
    (macrumors.com, ARB, cut to 60 %)."""
    comments = synthetic.story(97, paragraphs=5).split("\n\n")
    story = [P1, P2, P3, P4]
    assert 75 < sum(len(p.split()) for p in story) < 150  # the precondition: a short story
    assert sum(len(c.split()) for c in comments) > 2 * sum(len(p.split()) for p in story)
    page = parse_text("\n\n".join([*story, "[ 167 comments ]", "Top Rated Comments",
                                     *comments]))
    assert clean_blocks(page.blocks, "en").paragraphs == story


def test_comments_under_a_replies_to_heading_are_not_the_body() -> None:
    # WordPress heads a post's comments "N Replies to “Title”": unrecognised, the comments
    # joined the story, or outweighed a short one and were kept instead (syndication-wcxb).
    comment = (
        "This makes me really happy. Despite being a big company now you still have standards "
        "and are still trying to do the right thing for the community that made you. "
    )
    thread = []
    for name, time in (("sfcgeorge", "13:01"), ("Balu", "14:10"), ("Lamin", "14:11")):
        thread += [f"{name} says:", f"December 19, 2025 at {time}", comment * 3]
    page = parse_text(
        "\n\n".join([P1, P2, P3, P4, P5, P6, P7, P8, "Previous post",
                      "15 Replies to “Open-sourcing the CAD Files Under a New License”",
                      *thread])
    )
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3, P4, P5, P6, P7, P8]


def test_a_box_of_links_inside_the_body_does_not_end_it() -> None:
    page = parse_text(
        "\n\n".join(
            [P1, P2, P3, P4, "Related Stories", "Short Headline Of A Story", P5, P6, P7, P8]
        )
    )
    paragraphs = clean_blocks(page.blocks, "en").paragraphs
    assert paragraphs[0] == P1 and paragraphs[-1] == P8
    assert "Related Stories" not in paragraphs


def test_run_selection_by_hand() -> None:
    # prose 30 words scores 30 - 5; a short line costs 8; the run spans both prose blocks.
    labels = [
        (Label.SHORT, 1.0),
        (Label.PROSE, 30.0),
        (Label.SHORT, 2.0),
        (Label.PROSE, 30.0),
        (Label.BOILER, 3.0),
        (Label.SHORT, 1.0),
    ]
    assert select_run(labels) == (1, 4)
    # A boilerplate line costs more than a short prose block brings: the run stops before it.
    labels = [(Label.PROSE, 30.0), (Label.BOILER, 3.0), (Label.PROSE, 12.0)]
    assert select_run(labels) == (0, 1)


def test_scripts_without_spaces_count_by_characters() -> None:
    paragraphs = [
        "北京时间11月20日，国家统计局发布数据显示，十月份全国规模以上工业增加值同比增长百分之四点七。",
        "分析人士认为，受外部环境不确定性增加的影响，制造业投资仍然偏弱，但消费市场保持平稳增长。",
    ]
    page = parse_text("\n\n".join(["首页", "新闻", *paragraphs, "相关新闻"]))
    assert len(clean_blocks(page.blocks, "zh").paragraphs) == 2


def test_nothing_article_like_gives_nothing() -> None:
    page = parse_text("Home\n\nNews\n\nSports\n\nContact us\n\nPrivacy Policy")
    assert clean_blocks(page.blocks, "en").paragraphs == []


def test_list_items_continuing_a_lead_in_are_not_prose() -> None:
    item = (
        "promotes hatred and discrimination on racial, ethnic, sexual, religious or social "
        "basis or violates the rights of minorities;"
    )
    assert label_block(item, EN)[0] is Label.SHORT
    # A paragraph that opens a sentence stays prose.
    assert label_block(P1, EN)[0] is Label.PROSE


def test_a_rules_list_below_a_short_article_is_not_the_body() -> None:
    rules_list = [
        "A user comment will be deleted if it:",
        "does not correspond with the subject of the post;",
        "promotes hatred and discrimination on racial, ethnic, sexual, religious or social "
        "basis or violates the rights of minorities;",
        "violates the rights of minors, causing them harm in any form, including moral damage;",
        "contains insults, threats to other users, individuals or specific organizations, "
        "denigrates dignity or undermines business reputations;",
        "violates privacy, distributes personal data of third parties without their consent or "
        "violates privacy of correspondence;",
        "pursues commercial objectives, contains improper advertising, unlawful political "
        "advertisement or links to other online resources containing such information;",
        "contains offensive language or profanity and its derivatives, as well as hints of the "
        "use of lexical items falling within this definition;",
    ]
    page = parse_text("\n\n".join([P1, P2, "Add Comment", "Community standards", *rules_list]))
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2]


def test_comments_after_a_share_bar_are_not_the_body() -> None:
    # The share bar between body and comments resets the current run below a body's worth of
    # words; the end marker still closes the article because a body-sized run came before it.
    comment = (
        "Thanks so much for stopping by to read this long article, and for leaving a comment "
        "too! I hope you find some of these ideas helpful for your own business this year. "
    )
    page = parse_text(
        "\n\n".join(
            [
                P1, P2, P3, P4, P5, P6, P7,
                "Share", "Tweet", "Share", "Email",
                '10 thoughts on "Business Focus"',
                "August 8, 2018 at 3:17 pm", comment * 5,
                "August 8, 2018 at 7:07 pm", comment * 5,
                "August 9, 2018 at 9:21 am", comment * 5,
            ]
        )
    )  # fmt: skip
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3, P4, P5, P6, P7]


RESULTS = [
    "GIRLS BASKETBALL",
    "Palm Bay d. Rockledge 70-44",
    "Rockledge 14 11 6 15 - 44",
    "Palm Bay 18 22 13 17 - 70",
    "Palm Bay (1-0): Tolivert 25 points. Davis 17 points. Burgher 10 points.",
    "Heritage d. Titusville 53-9",
    "Heritage (1-0): Armani Sheffield 19 points and 3 steals. Kelli Howard 6 steals.",
    "Titusville (0-1): Storm Filsaime 4 points.",
    "BOYS SOCCER",
    "Viera d. Rockledge 3-1",
    "Viera (4-0): K. Hupfer 1 goal. L. Patikas 1 goal. Z. Nielsen 1 goal. J. Anasa 1 assist.",
    "Melbourne d. Cocoa 8-0",
    "Cocoa (1-2): Jordan Munoz 8 saves.",
]


def test_figure_lines() -> None:
    for line in (
        "Palm Bay d. Rockledge 70-44",
        "1 Kyle Busch 5040 5 1 17 27",
        "Eat every 2-3 hours",
    ):
        assert has_figures(line), line
    for line in (
        "Published November 19, 2019 at 6:15 PM",  # a date is not data
        "Apple spent 'billions' on revamped Maps service ~9 hours ago",
        "The most powerful Mini hot hatch to come out of Oxford has 306 HP and a huge rear wing",
        "Girls Basketball",
    ):
        assert not has_figures(line), line


def test_a_results_table_is_the_body() -> None:
    # Every line of a results roundup is short; without the data run the longer footer
    # disclaimer would be the body and the results would be lost.
    menu = ["News", "Sports", "High School", "Weather", "Obituaries", "Subscribe"]
    lead = "Here are the high school results from Tuesday night across the county."
    footer = (
        "The information provided on this website is for general purposes only and does not "
        "constitute professional advice; consult your physician before beginning any program."
    )
    links = ["About Us", "Contact Us", "Careers", "Advertise", "Privacy Policy", "Terms of Use"]
    page = parse_text("\n\n".join([*menu, lead, *RESULTS, *links, footer, footer.upper()]))
    assert clean_blocks(page.blocks, "en").paragraphs == [lead, *RESULTS]


def test_a_teaser_listing_with_dates_and_numbers_is_not_data() -> None:
    # Headline / summary / date per item: figures appear in passing or in dates only.
    listing = [
        "2020 Aston Martin DBX SUV is what 007 drives when he has kids",
        "Aston Martin officially reveals its new luxury SUV with a big V8 from the Vantage",
        "Published November 19, 2019 at 6:56 PM",
        "Renault to challenge Xpander, Avanza with 7-seat 2020 Triber",
        "Renault's latest seven-seater MPV only measures less than 4 meters long",
        "Published November 19, 2019 at 6:15 PM",
        "Hours after reveal, 2020 Mitsubishi Mirage, Mirage G4 get kitted out",
        "Less than a day since its reveal, Mitsubishi already decks out the Mirage G4",
        "Published 4h at 9:15 PM",
    ] * 2
    page = parse_text("\n\n".join([P1, P2, P3, *listing]))
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3]


def test_boilerplate_cues_find_what_the_full_pattern_finds() -> None:
    # The substring cues only skip lines the phrase pattern cannot match: the result is that of
    # trying the whole pattern everywhere.
    full = re.compile(
        rf"^{rules._BOILERPLATE_LINE.pattern}|{rules._BOILERPLATE_PHRASE.pattern}",
        rules._BOILERPLATE_PHRASE.flags,
    )
    lines = [
        "All Rights Reserved.", "This site uses cookies to improve", "Read our Cookie  Policy",
        "Privacy Policy | Terms of Use", "[email protected]", "write to jo.doe+x@mail.example.org",
        "This story was published by the desk", "CLICK HERE for more", "Get the Newsletter",
        "Subscribe now", "Enable JavaScript", "Subject to copyright.", "Advertisement",
        "Posted by Ann", "Connect with us", "Read more: the story", "https://x.example/a",
        "The reserves of the bank were posted on time", "terms were agreed", "a @ b",
        "He said the privacy of voters mattered.", "Nothing to see here at all",
    ]  # fmt: skip
    assert sum(is_boilerplate(line) for line in lines) == 17
    for line in lines:
        assert is_boilerplate(line) == (bool(full.search(line)) or is_posted_line(line)), line


def test_a_byline_is_boilerplate_and_a_sentence_that_starts_alike_is_not() -> None:
    for line in ("Posted by Ann", "Updated on November 20, 2019 at 5:27 am CST",
                 "Posted on December 20, 2025 by Jean-Luc Aufranc (CNXSoft) - 5 Comments on "
                 "Do you need 14 USB ports on your Raspberry Pi 5?"):
        assert is_posted_line(line) and is_boilerplate(line), line
    sentence = ("Posted on social media by the performance analysts at Digital Foundry, the "
                "Stadia port of the game runs in two modes, one of them at a steady frame rate.")
    assert not is_posted_line(sentence) and not is_boilerplate(sentence)


def test_a_cookie_consent_panel_is_not_the_body() -> None:
    # The panel's prose (what each category of cookie does) outweighed a short body, or a copy
    # of the page that lost its tail; articles that mention cookies stay prose.
    panel = [
        "We use cookies on our website to give you the most relevant experience by remembering "
        "your preferences and repeat visits.",
        "Necessary cookies are absolutely essential for the website to function properly. These "
        "cookies ensure basic functionalities and security features of the website, anonymously.",
        "Functional cookies help to perform certain functionalities like sharing the content of "
        "the website on social media platforms, collecting feedbacks, and other features.",
        "Performance cookies are used to understand and analyze the key performance indexes of "
        "the website which helps in delivering a better user experience for the visitors.",
        "This cookie is set by GDPR Cookie Consent plugin. The cookie is used to store the user "
        "consent for the cookies in the category Analytics and other categories as well.",
        "Cookie Settings",
    ]
    assert all(is_boilerplate(line) for line in panel)
    prose = ("Apps that use cookies or send marketing communications must follow PECR in the UK, "
             "the regulator said on Tuesday.")
    assert not is_boilerplate(prose)
    for recipe in ("Bake for 12 minutes, until the cookies are set around the edges.",
                   "These are the essential cookies every baker should know by heart."):
        assert not is_boilerplate(recipe), recipe
    body = [prose, "The rules apply to every company that sells to British customers online, "
            "whether or not it has an office in the country, officials added."]
    page = parse_text("\n\n".join([*body, "Leave a Reply", *panel]))
    assert clean_blocks(page.blocks, "en").paragraphs == body


def test_a_legal_footer_is_boilerplate_however_long() -> None:
    # Trademark and market-data notices run past the 40 words the phrase rules judge; a footer
    # of them tied with a short story's cut copy. Prose that uses the words stays prose.
    notices = [
        "Most stock quote data provided by BATS. Market indices are shown in real time, except "
        "for the DJIA, which is delayed by two minutes. All times are ET. Disclaimer. Quotes "
        "delayed at least 15 minutes. Market Data provided by Interactive Data, with fundamental "
        "company data provided by Morningstar and factual information from other sources.",
        "Standard & Poor's and S&P are registered trademarks of Standard & Poor's Financial "
        "Services LLC and Dow Jones is a registered trademark of Dow Jones Trademark Holdings "
        "LLC. All content of the Dow Jones branded indices is proprietary to the company and "
        "licensed to its partners for use in their products and services worldwide.",
    ]
    assert all(is_legal_notice(n) for n in notices)
    for sentence in ("The company said the data was provided by the agency on Monday.",
                     "He registered trademarks of several brands last year, records show.",
                     # One notice alone, in a story about the dispute, is prose.
                     "Taco Tuesday is a registered trademark of Taco John's, which has "
                     "defended it against restaurants for decades, the court heard."):
        assert not is_legal_notice(sentence), sentence
    assert is_legal_notice("© 2025 CarTalk. CAR TALK is a trademark of Tappet Brothers LLC.")
    body = ["Asian markets were mixed on Tuesday as investors weighed reports that trade talks "
            "between Washington and Beijing had stalled again over tariffs.",
            "Japan's Nikkei fell 0.3% while Hong Kong's Hang Seng rose about 1% in early trading, "
            "after a week of losses that analysts blamed on the trade dispute."]
    page = parse_text("\n\n".join([*body, "Search", "Terms of Use", *notices]))
    assert clean_blocks(page.blocks, "en").paragraphs == body


def test_caption_tail_cue_characters() -> None:
    for line in ["Smoke rises over the city. REUTERS/Khalil Ashawi", "Fans (Getty Images)",
                 "A protest in Syria [Anadolu]", "The mayor. Photo credit: City Hall",
                 "The mayor spoke on Tuesday and left early"]:
        assert is_caption(line) == bool(
            rules.CREDIT_TAIL.search(line) or rules.CAPTION_START.match(line)
        ), line


_SHELVES = ("Desk", "Drawer", "Closet", "Pantry", "Garage", "Attic", "Cellar", "Porch", "Hall",
            "Study", "Nursery", "Laundry", "Mudroom", "Bath", "Den", "Loft")


def _toc(n: int) -> list[str]:
    """Table-of-contents lines: short, no digits (a table of figures would count as data)."""
    return [f"The {_SHELVES[k % len(_SHELVES)]} {'shelf' if k < len(_SHELVES) else 'box'}"
            for k in range(n)]


def test_a_long_list_between_intro_and_body_keeps_them_one_body() -> None:
    """An intro, a table of contents of 30 short lines, then the body: one article. The list
    costs more than the intro weighs, so the best run alone would drop the intro — and a copy
    missing the body's tail would pick the intro instead of the body (truncation stability)."""
    intro = [P1, P2]
    body = [P3, P4, P5, P6, P7]
    blocks = _blocks("Home", "Menu", *intro, *_toc(30), *body, "Comments", "Nice post!")
    paragraphs = clean_blocks(blocks, "en").paragraphs
    assert paragraphs[:2] == intro and paragraphs[-5:] == body
    # Joining keeps it, and so does the list's being enclosed by prose (it costs two lines);
    # with neither, the intro is lost.
    join_only = replace(DEFAULT_OPTIONS.body, enclosed_short_lines=sys.maxsize)
    enclosed_only = replace(DEFAULT_OPTIONS.body, join_runs=False)
    neither = replace(join_only, join_runs=False)
    for body_options in (join_only, enclosed_only):
        kept = clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=body_options))
        assert kept.paragraphs[:2] == intro
    assert clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=neither)).paragraphs[0] == P3


def test_a_listicle_with_a_fact_box_after_each_item_is_one_body() -> None:
    """Eight items, each a counter, a heading, a paragraph and six short facts: the facts
    outweigh each paragraph, so were every enclosed line paid for the body would break up."""
    items = []
    for n, paragraph in enumerate([P1, P2, P3, P4, P5, P6, P7, P8], start=1):
        items += [f"{n}", f"The {_SHELVES[n % len(_SHELVES)]} pick", paragraph,
                  "Light: medium", "Water: weekly", "Soil: rich mix", "Size: small",
                  "Pets: safe", "Care: easy"]
    blocks = _blocks("Home", "Menu", *items, "Comments", "Nice post!")
    paragraphs = {P1, P2, P3, P4, P5, P6, P7, P8}
    # Joining the neighbouring runs (`extend_run`) is off: the enclosed lines alone do it.
    enclosed_only = replace(DEFAULT_OPTIONS.body, join_runs=False)
    kept = clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=enclosed_only)).paragraphs
    assert paragraphs <= set(kept)
    assert "Light: medium" in kept and "Comments" not in kept and "Menu" not in kept
    neither = replace(enclosed_only, enclosed_short_lines=sys.maxsize)
    broken = clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=neither)).paragraphs
    assert len(paragraphs & set(broken)) < 4


def test_a_guide_of_short_sections_is_one_body_however_much_is_cut() -> None:
    """Each section of the guide is a heading, a one-line paragraph and a list of prices: it
    costs the run more than it adds, so the best run ends with the intro unless the stretch
    after it counts for all the prose it holds. A copy cut after three sections keeps them."""
    intro = [P1, P2, P3]
    sections: list[str] = []
    paragraphs: list[str] = []
    for n, room in enumerate(("Kitchen", "Bathroom", "Bedroom", "Basement", "Garage"), 1):
        paragraph = f"The {room.lower()} usually costs more when the plumbing has to be moved."
        paragraphs.append(paragraph)
        sections += [f"{n}. {room} renovation costs", paragraph, f"Basic {room}: $10,000",
                     f"Mid-range {room}: $40,000", f"Luxury {room}: $90,000", "What drives it?"]
    for cut in (len(sections), 3 * 6):  # the guide, and a copy without its last two sections
        blocks = _blocks("Home", "Menu", *intro, *sections[:cut], "Leave a Reply", "Nice post!")
        kept = clean_blocks(blocks, "en").paragraphs
        assert kept[:3] == intro and "Nice post!" not in kept
        assert [p for p in kept if p in paragraphs] == paragraphs[: cut // 6]
        # Counting only the stretch's best-scoring start, the run ends with the intro.
        best_start = replace(DEFAULT_OPTIONS.body, join_by_prose=False)
        cut_short = clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=best_start))
        assert not set(paragraphs) & set(cut_short.paragraphs)


def test_teasers_beside_a_body_are_not_joined() -> None:
    """A list of teasers (a headline, a one-line summary) beside the body across short lines:
    the summaries hold prose, but little beside the body (under `join_share` of the run)."""
    teasers = []
    for topic in ("ceasefire talks", "energy prices", "the local elections"):
        teasers += [f"What Comes Next For {topic.title()}",
                    f"Our reporters explain what {topic} could mean for families this winter."]
    blocks = _blocks(P1, P2, P3, P4, *teasers)
    assert clean_blocks(blocks, "en").paragraphs == [P1, P2, P3, P4]
    # The summaries are worth `join_words` together: only their share of the run keeps them out.
    any_share = replace(DEFAULT_OPTIONS, body=replace(DEFAULT_OPTIONS.body, join_share=0.0))
    assert clean_blocks(blocks, "en", any_share).paragraphs[-1] == teasers[-1]


def test_prose_behind_a_marker_is_not_joined() -> None:
    """Across an end marker ("Related stories") the prose is not the article's."""
    blocks = _blocks(P1, P2, P3, "Related stories", *_toc(3), P4)
    assert clean_blocks(blocks, "en").paragraphs == [P1, P2, P3]


FUSED_MENU = ("School of CinemaSchool of Fine ArtsSchool of Hospitality and Tourism "
              "ManagementSchool of Doctoral ResearchSchool of Interior DesignSchool of "
              "JournalismSchool of Management and Business StudiesSchool of Performing Arts")


def test_a_fused_menu_line_is_not_prose() -> None:
    assert label_block(FUSED_MENU, EN)[0] is Label.SHORT
    brands = ("The iPhone maker said on Tuesday that its YouTube channel and its PlayStation "
              "partnership had both grown faster than analysts in the city had expected.")
    assert label_block(brands, EN)[0] is Label.PROSE
    # Names and brands as dense as a menu's joins, in sentences: prose still.
    for sentence in ("McDonald's and McKinsey executives met LeBron James and DeSantis aides "
                     "on Tuesday.",
                     "Apple's new iPhone, iPad and MacBook models will ship with iOS updates, "
                     "and PayPal will follow."):
        assert label_block(sentence, EN)[0] is Label.PROSE, sentence


def test_a_footer_menu_ending_in_a_fused_menu_does_not_join_the_body() -> None:
    # A university's footer: 25 menu entries, then its schools run together in one line. Read
    # as prose, that line made the menu an enclosed stretch (two lines' cost) and the whole
    # footer joined the article, so a copy cut by its last paragraphs lost "most" of the body.
    menu = ["Acting", "Cinema", "Animation & Multimedia", "Event Management", "Fine Arts",
            "Digital Marketing", "Fashion & Design", "Health and Wellness", "Law", "Music",
            "Photography", "Call Us", "Useful Links", "Higher Education", "Committees",
            "Centers", "Academic Calendar", "Blogs", "Contact Us", "Admission Details", "FAQ",
            "Pay Fee Online", "Student Referral Program", "Career", "Admission Office"]
    page = parse_text("\n\n".join([P1, P2, P3, P4, *menu, FUSED_MENU]))
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3, P4]


CODE = """#!/usr/bin/env python3
import subprocess
from datetime import datetime
CONFIG = {
"chrome_profile": "Profile 1",
}
def open_app(app_name):
subprocess.Popen(["open", "-a", app_name])
def notify(title, message):
script = f'display notification "{message}"'
subprocess.run(["osascript", "-e", script])
return result.stdout.strip()""".splitlines()


def test_a_code_listing_after_the_prose_is_the_body() -> None:
    # A tutorial whose copy was cut after its listing: without prose after it, a listing of
    # short lines was the tail's, and the copy lost it.
    assert sum(rules.looks_like_code(line) for line in CODE) >= 0.8 * len(CODE)
    page = parse_text("\n\n".join([P1, P2, P3, P4, *CODE, "Related", "Subscribe", "About Us"]))
    assert clean_blocks(page.blocks, "en").paragraphs == [P1, P2, P3, P4, *CODE]


def test_a_list_of_rules_ending_in_semicolons_is_not_code() -> None:
    for line in ("does not correspond with the subject of the post;",
                 "contains insults or messages expressing disrespect to Sputnik;",
                 "Price: $299", "Home > News > World", "Call us (919) 277-0150",
                 "except where required by law;", "return to the main page for more",
                 "import duties rose again"):
        assert not rules.looks_like_code(line), line


WINNERS = [f"{name} - {work} (Instructor: {teacher})" for name, work, teacher in (
    ("Jasmine Chang", "Type and Expression", "John Nettleton"),
    ("Evelyn Kim", "Music Festival", "Troy Alders"),
    ("Zack Jacobson", "Sustainable Paints", "Thomas McNulty"),
    ("Ariana Davies", "Walk Amongst the Flowers", "Laurie Makela"),
    ("Amy Burke", "Second Stitch", "Fiona Blankenship"),
    ("Sol Stern", "Happy Brand System", "Thomas McNulty"),
)]
LEAD_IN = ("The recognized projects span music festivals, sustainability initiatives and "
           "consumer products. Here are the winners and their instructors:")


def test_a_list_announced_at_the_end_of_the_body_is_kept() -> None:
    """A body ending on "Here are the winners:" and its list (a copy cut after the list, or an
    article that ends with one): the list costs the run more than it adds and no prose after
    it pays for it, so the run alone ends on the lead-in."""
    blocks = _blocks("Home", "Menu", P1, P2, LEAD_IN, *WINNERS, "Share", "About us", "Contact")
    kept = clean_blocks(blocks, "en").paragraphs
    assert kept == [P1, P2, LEAD_IN, *WINNERS]
    without_rule = replace(DEFAULT_OPTIONS.body, announced_lists=False)
    assert clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=without_rule)
                        ).paragraphs == [P1, P2, LEAD_IN]


def test_short_lines_after_a_body_not_announced_stay_out() -> None:
    """The same lines after a body whose last sentence announces nothing are a footer's."""
    blocks = _blocks("Home", "Menu", P1, P2, P3, *WINNERS, "About us", "Contact")
    assert clean_blocks(blocks, "en").paragraphs == [P1, P2, P3]
    # And an announced list is only as long as `announced_list_lines`.
    two = replace(DEFAULT_OPTIONS.body, announced_list_lines=2)
    announced = _blocks(P1, P2, LEAD_IN, *WINNERS)
    assert clean_blocks(announced, "en", replace(DEFAULT_OPTIONS, body=two)
                        ).paragraphs == [P1, P2, LEAD_IN, *WINNERS[:2]]


def test_a_box_of_links_inside_a_guide_does_not_end_it() -> None:
    """"Also read:" and a teaser in the middle of a guide: the guide goes on after it. Counted
    at half its worth, the prose after the box no longer paid for the box."""
    story = synthetic.story(7, paragraphs=5).split("\n\n")
    blocks = _blocks("Home", "Menu", *story[:3], "Also read:", "Ten Tips For Your Garden",
                     *story[3:], "About us", "Contact")
    kept = clean_blocks(blocks, "en").paragraphs
    assert [p for p in kept if p in story] == story and "About us" not in kept
    half = replace(DEFAULT_OPTIONS.body, links_discount=0.5)
    assert clean_blocks(blocks, "en", replace(DEFAULT_OPTIONS, body=half)).paragraphs == story[:3]
