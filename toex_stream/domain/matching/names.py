"""Name normalisation for matching: case, diacritics, scripts, order, nicknames, phonetic keys.

A name is reduced to lower-case ASCII tokens: diacritics dropped (Kovács →
kovacs, Ștefănescu and Ştefănescu → stefanescu), Cyrillic transliterated
(Юлия Коваленко → yuliya kovalenko), hyphenated and double family names split
into tokens. Given names are then mapped through a table of nicknames and
diminutives (English, Hungarian, Romanian, Polish) to a canonical form, so
that "Zoli" and "Zoltán" compare equal. Hungarian family-name-first order is
handled by the comparison, which tries both orders.

>>> fold_tokens("Kovács  Réka"), fold_tokens("Ştefănescu-Popa"), fold_tokens("Юлия Коваленко")
(('kovacs', 'reka'), ('stefanescu', 'popa'), ('yuliya', 'kovalenko'))
>>> canonical_given("Zoli"), canonical_given("Pisti"), canonical_given("kasia"), canonical_given("Bob")
('zoltan', 'istvan', 'katarzyna', 'robert')
>>> phonetic("Horvath") == phonetic("Horváth") == phonetic("Horvat")
True
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jellyfish

# ICAO Doc 9303 style transliteration (what UK passports and visas print).
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e", "є": "ie", "ж": "zh",
    "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}
# Word-initial and after-vowel forms common in the UK's own records (Юлия → Yuliya rather than Iuliia).
_CYRILLIC_INITIAL = {"ю": "yu", "я": "ya", "е": "ye", "ё": "yo", "є": "ye", "ї": "yi", "й": "y"}
_SPECIAL = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                          "Æ": "Ae", "œ": "oe", "ı": "i", "þ": "th"})
_NON_LETTERS = re.compile(r"[^a-z]+")
_VOWELS = set("аеёиоуыэюяєії")


def _transliterate(text: str) -> str:
    out = []
    previous = ""
    for char in text:
        lower = char.lower()
        if lower in _CYRILLIC:
            initial = not previous.isalpha() or previous.lower() in _VOWELS or previous.lower() == "ь"
            if initial and lower in _CYRILLIC_INITIAL:
                out.append(_CYRILLIC_INITIAL[lower])
            elif lower == "я" and previous.lower() == "и":
                out.append("ya")  # -ия endings: Юлия -> Yuliya, Мария -> Mariya
            else:
                out.append(_CYRILLIC[lower])
        else:
            out.append(char)
        previous = char
    return "".join(out)


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Lower-case ASCII letters and single spaces: diacritics, scripts and punctuation removed.

    >>> fold("  O'Brien-Smith "), fold("Łukasz Wiśniewski"), fold("ŢURCANU")
    ('o brien smith', 'lukasz wisniewski', 'turcanu')
    """
    if any("\u0400" <= c <= "\u04ff" for c in text):
        text = _transliterate(text)
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _NON_LETTERS.sub(" ", text).strip()


def fold_tokens(text: str | None) -> tuple[str, ...]:
    """The folded tokens of a name; hyphens and apostrophes split tokens."""
    return tuple(fold(text).split()) if text else ()


# Nicknames and diminutives → the canonical given name (folded). Each line: canonical, variants.
_NICKNAMES = """
elizabeth liz lizzie beth betty bess eliza libby
katherine kate katie kathy kat catherine kathryn
margaret maggie meg peggy megan
william bill will billy willy liam
robert bob rob bobby robbie
thomas tom tommy
christopher chris kit
james jim jimmy jamie
richard rick dick richie
joseph joe joey
michael mike mikey mick
daniel dan danny
matthew matt
andrew andy drew
samuel sam sammy
rebecca becky becca
jessica jess jessie
charlotte charlie lottie
alexander alex alec sandy
alexandra alexa sasha sanda
natalie nat
erzsebet erzsi bozsi erzsike zsoka
katalin kati kata katika
zsuzsanna zsuzsa zsuzsi zsuzska
krisztina kriszti kriszta
anna panni aniko annamaria ancsa
maria mari marika marcsi mia marioara
zsofia zsofi zsofika
reka rekuci
boglarka bogi
nikolett niki
zoltan zoli
laszlo laci
istvan pisti pista
ferenc feri
jozsef jozsi joska
sandor sanyi
gyorgy gyuri
gabor gabi
janos jani
ioana oana nela
elena ela lena
gheorghe ghita gica
ion ionica nelu ionel
constantin costel costi titi
mihai mihaita
nicolae nicu
vasile vasi sile
stefan fane stefanel
florin florica
malgorzata gosia
katarzyna kasia
aleksandra ola
krzysztof krzys
wojciech wojtek
tomasz tomek
""".strip()

NICKNAME_TABLE: dict[str, str] = {
    variant: line.split()[0] for line in _NICKNAMES.splitlines() for variant in line.split()
}


def canonical_given(name: str) -> str:
    """The canonical form of a given name (one token), nickname resolved."""
    token = fold(name).replace(" ", "")
    return NICKNAME_TABLE.get(token, token)


@lru_cache(maxsize=200_000)
def phonetic(name: str) -> str:
    """A coarse phonetic key (NYSIIS of the folded name, up to six letters) for blocking."""
    folded = fold(name).replace(" ", "")
    return jellyfish.nysiis(folded)[:6] if folded else ""
