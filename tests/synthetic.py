"""Synthetic stories and their syndicated copies, for the multi-process scenarios.

Deterministic (seeded) prose that survives boilerplate removal: sentences with stopwords,
punctuation and varied vocabulary, so distinct stories share almost no 5-gram shingles while a
copy (chrome added, ~2 % of words changed, last paragraph dropped) stays a near-duplicate.
"""

from __future__ import annotations

import hashlib
import random

SUBJECTS = ["The minister", "A spokesperson for the agency", "The regional governor",
            "Local officials", "The committee chair", "Opposition leaders", "The central bank",
            "Union representatives", "The mayor of the city", "Independent analysts",
            "Police investigators", "The health authority", "Company executives",
            "Residents of the district", "The coastguard", "Election observers"]
VERBS = ["said", "warned", "confirmed", "announced", "argued", "reported", "insisted",
         "suggested", "denied", "acknowledged", "estimated", "promised"]
OBJECTS = ["the budget", "the new bridge", "a rise in prices", "the flooding", "the strike",
           "the peace talks", "a shortage of medicine", "the harbour expansion", "the vaccine",
           "the wildfire", "the rail line", "the trade deal", "the school reform", "the drought",
           "the refinery", "the court ruling", "the tax plan", "the power outage",
           "the fishing quota", "the housing market", "the museum", "the airport"]
TAILS = ["would be reviewed by the end of the month", "had been delayed for a second time",
         "was expected to cost more than planned", "could affect thousands of families",
         "remained the subject of intense debate", "was discussed at length on Tuesday",
         "had drawn criticism from several groups", "would need approval from parliament",
         "was unlikely to change before the winter", "had surprised many observers"]
PLACES = ["Lisbon", "Nairobi", "Quito", "Hanoi", "Tromsø", "Perth", "Accra", "Tbilisi",
          "Valparaíso", "Kraków", "Daegu", "Oaxaca", "Tampere", "Mombasa", "Cork", "Ghent"]
CHROME = [["Skip to content", "Menu", "Subscribe now"], ["Home | News | Sport | Weather"],
          ["Sign in", "Search this site"], ["Advertisement"]]
TAIL_CHROME = [["Share this article", "Facebook", "Twitter"], ["Read more:", "Most popular"],
               ["© 2024 Example Media. All rights reserved."], ["Comments are closed."]]


SYLLABLES = ["ka", "lo", "mi", "ran", "tu", "vek", "sa", "dor", "pel", "zi", "nu", "gar", "bo",
             "lin", "res", "ta", "mon", "fi", "hal", "quen"]


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def story(number: int, paragraphs: int = 6) -> str:
    """A story of its own: invented names in every sentence keep stories' shingles apart."""
    rng = random.Random(number)
    place = rng.choice(PLACES)
    names = [_name(rng) for _ in range(12)]
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(3):
            sentences.append(
                f"{rng.choice(SUBJECTS)} {rng.choice(names)} of {place} {rng.choice(VERBS)} "
                f"that {rng.choice(OBJECTS)} near {rng.choice(names)} {rng.choice(TAILS)}, "
                f"according to {rng.choice(names)} and {rng.choice(names)}."
            )
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def syndicated_copy(text: str, copy: int) -> str:
    """Another site's copy: its chrome, ~2 % of words changed, the last paragraph dropped."""
    # A seed from the text itself, the same in every process (`hash()` of a str is not).
    digest = hashlib.blake2b(f"{text[:40]}\x00{copy}".encode(), digest_size=8).digest()
    rng = random.Random(int.from_bytes(digest))
    paragraphs = text.split("\n\n")[:-1]
    edited = []
    for paragraph in paragraphs:
        words = paragraph.split(" ")
        for _ in range(max(1, len(words) // 50)):
            words[rng.randrange(len(words))] = rng.choice(["reportedly", "also", "still"])
        edited.append(" ".join(words))
    head = CHROME[copy % len(CHROME)]
    tail = TAIL_CHROME[copy % len(TAIL_CHROME)]
    return "\n\n".join([*head, *edited, *tail])


def articles(stories: int, copies: tuple[int, int] = (2, 3), seed: int = 7) -> list[dict]:
    """Each story as 2-3 copies (the first unchanged), a story's copies adjacent, in random
    order among themselves, so that different workers pick them up at the same moment."""
    rng = random.Random(seed)
    out = []
    for number in range(stories):
        text = story(number)
        group = [{"url": f"https://wire.example/{number}", "text": text, "cluster": number}]
        for copy in range(1, rng.randint(*copies)):
            group.append({"url": f"https://site{copy}.example/{number}",
                          "text": syndicated_copy(text, copy), "cluster": number})
        rng.shuffle(group)
        out.extend(group)
    return out
