"""Normalisation of identifiers as they arrive: phones, emails, UK postcodes.

Each function is pure and total: what cannot be normalised comes back cleaned
of surrounding noise but otherwise as written, so nothing is lost.

>>> normalise_phone("07700 900123"), normalise_phone("+44 (0)7700-900-123")
('+447700900123', '+447700900123')
>>> normalise_phone("0044 7700 900 123"), normalise_phone("seven seven zero zero 900123")
('+447700900123', '+447700900123')
>>> normalise_phone("oh double seven double oh nine double oh one two three")
'+447700900123'
>>> normalise_phone("+36 30 123 4567")
'+36301234567'
>>> normalise_email("  Anna.K@Example.COM ")
'anna.k@example.com'
>>> normalise_postcode("b11aa"), normalise_postcode(" ct1  2ab "), normalise_postcode("1051 Budapest")
('B1 1AA', 'CT1 2AB', '1051 Budapest')
"""

from __future__ import annotations

import re

import phonenumbers

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_DIGIT_WORD_RE = re.compile(r"\b(" + "|".join(sorted(_DIGIT_WORDS, key=len, reverse=True)) + r")\b", re.I)
_UK_POSTCODE_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


_REPEAT_RE = re.compile(r"\b(double|triple)\s*(\d)", re.I)


def _words_to_digits(text: str) -> str:
    text = _DIGIT_WORD_RE.sub(lambda m: _DIGIT_WORDS[m.group(1).lower()], text)
    # "double seven" -> "77", "triple oh" -> "000", as people read numbers aloud.
    return _REPEAT_RE.sub(lambda m: m.group(2) * (2 if m.group(1).lower() == "double" else 3), text)


def normalise_phone(raw: str, default_region: str = "GB") -> str:
    """E.164 form of a phone number as written, UK by default; the trimmed text if it does not parse."""
    text = _words_to_digits(raw.strip())
    text = text.replace("(0)", "")
    if text.startswith("00"):
        text = "+" + text[2:].lstrip()
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return raw.strip()
    if not phonenumbers.is_possible_number(number):
        return raw.strip()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Trimmed and lower-cased (mailbox names are case-insensitive in practice)."""
    return raw.strip().lower()


def normalise_postcode(raw: str) -> str:
    """A UK postcode upper-cased with one space before the inward code; anything else trimmed."""
    compact = re.sub(r"\s+", "", raw.strip().upper())
    match = _UK_POSTCODE_RE.match(compact)
    if match is None:
        return raw.strip()
    return f"{match.group(1)} {match.group(2)}"
