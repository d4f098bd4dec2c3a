"""Advert indicators: a versioned lexicon of phrases and the extractor that finds them in adverts.

The lexicon is data (``toex_stream/data/indicators.v1.yaml``): terms in
English, Hungarian and Romanian, each in one of the seven categories of
:data:`~toex_stream.domain.scoring.feature_names.INDICATOR_CATEGORIES`, with a weight
(negative for markers of independent work) and a one-line rationale that cites
a listed source. :func:`load_lexicon` validates the file once and indexes the
terms; :meth:`Lexicon.extract` finds them in an advert's title and body, each
term at most once, and :meth:`Lexicon.category_weights` sums them into the
``indicator_*`` features.

Matching ignores case, diacritics and the amount of white space, so
"UJ  VAGYOK" finds "új vagyok" and Romanian ş/ș and ţ/ț are the same letter.

>>> lexicon = load_lexicon()
>>> hits = lexicon.extract("New in town - Bella, 21", "My friend answers the phone. WhatsApp only.")
>>> [(hit.category, hit.term) for hit in hits]  # doctest: +NORMALIZE_WHITESPACE
[('third_party_control', 'third_party_answers'), ('newness_touring', 'new_in_town'),
 ('obscured_contact', 'messaging_app_only')]
>>> weights = lexicon.category_weights(hits)
>>> weights["third_party_control"], weights["independence"]
(0.7, 0.0)
>>> [hit.term for hit in lexicon.extract("Independent, I answer my own phone. Verified reviews.")]
['independent', 'own_phone', 'verified_reviews']
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.feature_names import INDICATOR_CATEGORIES

# The regular-expression parser, to index each term by the literal text its matches begin with.
if TYPE_CHECKING:  # typeshed describes it under its old names, which since 3.11 re-export re._parser's
    import sre_constants as _c
    import sre_parse as _parser
else:  # the old names warn (deprecated) when imported
    import re._constants as _c
    import re._parser as _parser

log = logging.getLogger(__name__)

SUPPORTED_VERSION = 1
BUNDLED_LEXICON = ("data", "indicators.v1.yaml")
NEGATIVE_CATEGORY = "independence"
"""The one category whose terms lower the risk: every weight in it is negative, every other weight positive."""

_TOP_KEYS = ("version", "updated", "sources", "categories")
_SOURCE_KEYS = ("id", "cite", "authors", "year", "title", "published")
_CATEGORY_KEYS = ("description", "terms")
_TERM_KEYS = ("id", "pattern", "language", "weight", "rationale")
_LANGUAGE = re.compile(r"[a-z]{2}")
# A backreference or a named group would break once a term's pattern is wrapped and indexed.
_UNSUPPORTED_SYNTAX = re.compile(r"\\(?:[1-9]|g<)|\(\?P[<=]")
_ESCAPE = re.compile(r"(\\N\{[^}]*\}|\\.)", re.DOTALL)
# Combining diacritics, emoji variation selectors, and the invisible characters (soft hyphen,
# zero-width spaces and joiners) that adverts slip into words to dodge filters.
_MARKS = re.compile("[\u0300-\u036f\ufe0e\ufe0f\u00ad\u200b-\u200f\u2060\ufeff]+")
_JOINER = re.compile(r"[-_](?<=[^\W\d_][-_])(?=[^\W\d_])")  # starts with its class: the engine skips to it
_QUOTES = ("\u2019", "\u2018", "\u02bc", "\u00b4", "`")  # written for an apostrophe


class LexiconError(ToexError):
    """An indicator lexicon that cannot be used; the message names the file, the term and the fix."""


@dataclass(frozen=True)
class Source:
    """A published work that terms cite; ``cite`` is how rationales name it ("Ibanez & Suthers 2014")."""

    id: str
    cite: str
    authors: str
    year: int
    title: str
    published: str = ""


@dataclass(frozen=True)
class IndicatorHit:
    """One lexicon term found in an advert."""

    category: str  # one of INDICATOR_CATEGORIES
    term: str  # the term's id in the lexicon
    weight: float
    language: str
    rationale: str


@dataclass(frozen=True)
class Term:
    """One lexicon entry. ``pattern`` is as written in the file; matching uses its folded form."""

    id: str
    category: str
    pattern: str
    language: str
    weight: float
    rationale: str
    sources: tuple[str, ...]  # ids of the sources the rationale cites

    @property
    def hit(self) -> IndicatorHit:
        return IndicatorHit(self.category, self.id, self.weight, self.language, self.rationale)


def fold(text: str) -> str:
    """Text as the lexicon matches it: lower case, without diacritics, straight apostrophes, single spaces.

    A hyphen or underscore between letters is a space ("new-in-town" is "new in town").

    >>> fold("Új vagyok a   városban.  Sunt nouă în oraş, ORAȘ. Can’t, NEW_IN-TOWN, 0-24")
    "uj vagyok a varosban. sunt noua in oras, oras. can't, new in town, 0-24"
    """
    text = _JOINER.sub(" ", _fold_letters(text))
    # One space for every run of white space: a pattern's \s+ then always matches exactly one
    # character, which lets the index read "new\s+in\s+town" as the literal prefix "new in t".
    # (isprintable is false for every white space but the plain space.)
    if "  " in text or not text.isprintable() or text[:1] == " " or text[-1:] == " ":
        text = " ".join(text.split())
    return text


def _fold_letters(text: str) -> str:
    text = text.lower()
    if text.isascii():
        return text
    text = _MARKS.sub("", unicodedata.normalize("NFD", text))
    for quote in _QUOTES:  # str.translate is ~50x slower here
        if quote in text:
            text = text.replace(quote, "'")
    return text


def fold_pattern(pattern: str) -> str:
    r"""A pattern folded like text, leaving its escapes alone (``\S`` must not become ``\s``).

    >>> fold_pattern(r"Új\s+VAGYOK\S*\N{DIGIT ZERO}")
    'uj\\s+vagyok\\S*\\N{DIGIT ZERO}'
    """
    pieces = _ESCAPE.split(pattern)
    return "".join(piece if index % 2 else _fold_letters(piece) for index, piece in enumerate(pieces))


@dataclass(frozen=True)
class Lexicon:
    """A validated, indexed indicator lexicon. Build it with :func:`load_lexicon` or :func:`parse_lexicon`."""

    version: int
    updated: dt.date
    sources: Mapping[str, Source]
    terms: tuple[Term, ...]
    descriptions: Mapping[str, str] = field(default_factory=dict)
    _index: _TermIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted({t.category for t in self.terms} - set(INDICATOR_CATEGORIES))
        if unknown:
            raise LexiconError(
                f"unknown indicator categories {unknown}; the categories are {', '.join(INDICATOR_CATEGORIES)}"
            )
        object.__setattr__(self, "_index", _TermIndex(self.terms))

    def extract(self, *texts: str) -> list[IndicatorHit]:
        """The terms found in an advert's texts (title, body), each term at most once, by category.

        The texts are read as one, so a phrase split across title and body still
        counts, once. Terms may overlap and all count, except that where two terms of
        one category match at the same place only the first listed in the lexicon
        counts ("young and fresh" is not also "young").
        """
        return self._index.extract(" ".join(t for t in texts if t))

    def category_weights(self, hits: Iterable[IndicatorHit]) -> dict[str, float]:
        """The sum of the hits' weights per category; every category is present, 0.0 when nothing hit.

        >>> load_lexicon().category_weights([])["pricing"]
        0.0
        """
        weights = dict.fromkeys(INDICATOR_CATEGORIES, 0.0)
        for hit in hits:
            weights[hit.category] += hit.weight
        for category, weight in weights.items():
            if weight:
                weights[category] = round(weight, 6)  # 0.7 + 0.1 is 0.7999999999999999
        return weights

    def term(self, term_id: str) -> Term:
        """The term with this id (for explanations: its pattern, rationale and sources)."""
        for term in self.terms:
            if term.id == term_id:
                return term
        raise KeyError(term_id)


# -- the index ------------------------------------------------------------------------------------
#
# Trying every term at every character is far too slow for the stream (one alternation per
# category managed ~5,000 adverts/s of 300 characters). Instead each term's parsed pattern
# gives the literal text every match begins with ("my friend ", "£1", "new in t"); one scan
# with a trie of those prefixes, which the regex engine only starts after a non-word
# character, finds the few places where some term could start, and only the terms whose
# prefix is there are tried, anchored, at that place. A term whose beginning cannot be
# known (one starting with \d, say) is searched for on its own; the bundled lexicon keeps
# those few, and starts each with a character class the engine can skip to. Such a term is
# not looked for again inside its own match (it counts once anyway).

_PREFIX_BUDGETS = (10, 8, 6, 4, 3)  # characters of prefix to derive; fewer when a term has too many prefixes
_MAX_PREFIXES = 1000
_SMALL_CLASS = 16  # a character class of at most this many characters is spelt out
_STOP = (None, None)
_INITIALS = " tasoiwcbphfmdrelngu0123456789yvjkqxz"  # roughly how often words begin with each; others after
_word_char = re.compile(r"\w").match
_end = re.Match.end


class _TermIndex:
    def __init__(self, terms: tuple[Term, ...]) -> None:
        self.terms = terms
        self.hits = [term.hit for term in terms]  # built once: a hit is immutable
        self.category_rank = [INDICATOR_CATEGORIES.index(t.category) for t in terms]
        # Tried at a place the trigger scan found, which already checked that no word character precedes it.
        self.anchored: list[Callable[[str, int], re.Match[str] | None]] = [
            re.compile(f"(?:{fold_pattern(t.pattern)})(?!\\w)").match for t in terms
        ]
        by_prefix: dict[str, set[int]] = {}
        # Unindexed terms, each with checks of what every match must contain, to skip most adverts cheaply.
        self.unindexed: list[tuple[int, re.Pattern[str], tuple[Callable[[str], Any], ...]]] = []
        for n, term in enumerate(terms):
            folded = fold_pattern(term.pattern)
            prefixes = _prefixes(folded)
            if prefixes is None:
                self.unindexed.append((n, re.compile(f"(?:{folded})(?!\\w)"), _required(folded)))
                continue
            for prefix in prefixes:
                by_prefix.setdefault(prefix, set()).add(n)
        # The trie finds the longest prefix at a place; the terms of every shorter prefix of it are candidates too.
        self.candidates: dict[str, tuple[int, ...]] = {
            prefix: tuple(sorted(set().union(*(by_prefix.get(prefix[:k], ()) for k in range(1, len(prefix) + 1)))))
            for prefix in by_prefix
        }
        # Where the candidates are all of different categories no term can take another's place: try each.
        self.plain: dict[str, tuple[tuple[int, Callable[[str, int], re.Match[str] | None]], ...] | None] = {
            prefix: tuple((n, self.anchored[n]) for n in numbers)
            if len({terms[n].category for n in numbers}) == len(numbers) else None
            for prefix, numbers in self.candidates.items()
        }
        # Places where some term may start: after a space (a literal the engine searches for fastest),
        # and after any other non-word character that is not followed by a space (rarer).
        trie = _trie(by_prefix) if by_prefix else "(?!)"
        self.after_space = re.compile(f" (?=({trie}))").finditer
        self.after_other = re.compile(f"[^\\w ](?! )(?=({trie}))").finditer

    def extract(self, raw: str) -> list[IndicatorHit]:
        text = " " + fold(raw)  # so that even the first word follows a non-word character
        first_seen: dict[int, int] = {}  # term number -> the place it first counted
        known: dict[int, list[int]] = {}  # place -> unindexed terms that match there
        for n, regex, required in self.unindexed:
            if not all(check(text) for check in required):
                continue
            match = regex.search(text)
            while match is not None:
                if _word_char(text, match.start() - 1):  # inside a word: not a place a term may start
                    match = regex.search(text, match.start() + 1)
                    continue
                known.setdefault(match.start(), []).append(n)
                # On from the end of the match: trying every place inside a long run of digits again
                # would make a crafted advert cost quadratic time.
                match = regex.search(text, max(match.end(), match.start() + 1))
        found: Iterable[re.Match[str]] = self.after_space(text)
        others = list(self.after_other(text))
        if others:  # places in text order, so that each term's first place is the one it is listed at
            found = sorted([*found, *others], key=_end)
        if known:  # rare: an unindexed term matched, so settle its places in order with the others
            prefixes = {m.end(): m.group(1) for m in found}
            for place in sorted(prefixes.keys() | known.keys()):
                prefix = prefixes.get(place)
                self._settle(text, place, self.candidates[prefix] if prefix is not None else (), known.get(place),
                             first_seen)
        else:
            plain, candidates = self.plain, self.candidates
            for found_at in found:
                place, prefix = found_at.end(), found_at.group(1)
                tries = plain[prefix]
                if tries is None:
                    self._settle(text, place, candidates[prefix], None, first_seen)
                    continue
                for n, matches_at in tries:
                    if n not in first_seen and matches_at(text, place):
                        first_seen[n] = place
        order = sorted(first_seen, key=lambda n: (self.category_rank[n], first_seen[n], n))
        return [self.hits[n] for n in order]

    def _settle(self, text: str, place: int, candidates: tuple[int, ...], known: list[int] | None,
                first_seen: dict[int, int]) -> None:
        """Which terms count at one place: in each category, the first listed that matches there."""
        numbers: Iterable[int] = sorted(set(candidates).union(known)) if known else candidates
        claimed: set[str] = set()
        for n in numbers:
            category = self.terms[n].category
            if category in claimed:
                continue
            if (known is not None and n in known) or self.anchored[n](text, place):
                claimed.add(category)
                first_seen.setdefault(n, place)


def _prefixes(pattern: str) -> frozenset[str] | None:
    """The literal strings every match of a folded pattern begins with; None when it may begin with anything."""
    try:
        parsed = _parser.parse(pattern)
    except Exception:  # an internal module; should it ever change, the term is searched for on its own
        return None
    for budget in _PREFIX_BUDGETS:
        starts = {s for s in _starts(list(parsed.data), budget) if "  " not in s}  # folded text never has two spaces
        if len(starts) <= _MAX_PREFIXES:
            return None if "" in starts else frozenset(starts)
    return None


def _starts(items: list[Any], budget: int) -> set[str]:
    """Literal beginnings of a parsed sequence, at most ``budget`` characters long; "" where none is known."""
    if not items or budget == 0:
        return {""}
    (op, av), rest = items[0], items[1:]
    if op is _c.LITERAL:
        return {chr(av) + s for s in _starts(rest, budget - 1)}
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):  # zero width: the next item begins the match
        return _starts(rest, budget)
    if op is _c.SUBPATTERN:
        return _starts(list(av[3].data) + rest, budget)
    if op is _c.ATOMIC_GROUP:
        return _starts(list(av.data) + rest, budget)
    if op is _c.BRANCH:
        return set().union(*(_starts(list(alternative.data) + rest, budget) for alternative in av[1]))
    if op is _c.IN:
        chars = _class_chars(av)
        if chars is None:
            return {""}
        after = _starts(rest, budget - 1)
        return {char + s for char in chars for s in after}
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, high, body = av
        skipped = _starts(rest, budget) if low == 0 else set()
        if _is_space(body):  # folded text has single spaces, so \s+ is exactly one space and \s* at most one
            return skipped | {" " + s for s in _starts(rest, budget - 1)}
        if high == 1:  # optional: the body, then what follows
            return skipped | _starts(list(body.data) + rest, budget)
        return skipped | _starts(list(body.data) + [_STOP], budget)
    return {""}  # \d, \w, any character, a negated class, a backreference: nothing literal is known from here


def _required(pattern: str) -> tuple[Callable[[str], Any], ...]:
    """Checks of a text, each true if it holds something every match of a folded pattern must contain.

    A literal character is checked with ``in``; a character class with a search for one
    character of it, which the regex engine does in a tight loop.
    """
    try:
        # (opcode, argument) pairs, as _starts takes them: the argument's type depends on the opcode's value.
        items: list[Any] = list(_parser.parse(pattern).data)
    except Exception:
        return ()
    literals: list[str] = []
    classes: list[str] = []
    while items:
        op, av = items.pop(0)
        if op is _c.LITERAL:
            literals.append(chr(av))
        elif op is _c.IN and (source := _class_source(av)):
            classes.append(source)
        elif op is _c.SUBPATTERN:
            items[:0] = list(av[3].data)
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT) and av[0] >= 1:
            items[:0] = list(av[2].data)
    checks: list[Callable[[str], Any]] = [_contains(char) for char in dict.fromkeys(literals) if not char.isalnum()]
    # The class least likely in ordinary text first: it is the one most likely to rule the advert out.
    searches = sorted((re.compile(source) for source in dict.fromkeys(classes)),
                      key=lambda regex: len(regex.findall(_ORDINARY)))
    return tuple(checks + [regex.search for regex in searches])


def _contains(char: str) -> Callable[[str], bool]:
    return lambda text: char in text


_ORDINARY = "abcdefghijklmnopqrstuvwxyz 0123456789 .,'-!?£"
_CATEGORY_SOURCE = {
    _c.CATEGORY_DIGIT: r"\d", _c.CATEGORY_NOT_DIGIT: r"\D", _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S", _c.CATEGORY_WORD: r"\w", _c.CATEGORY_NOT_WORD: r"\W",
}


def _class_source(items: list[Any]) -> str:
    """A parsed character class written back as a regular expression; "" if it holds anything else."""
    parts: list[str] = []
    for op, av in items:
        if op is _c.NEGATE:
            parts.insert(0, "^")
        elif op is _c.LITERAL:
            parts.append(re.escape(chr(av)))
        elif op is _c.RANGE:
            parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is _c.CATEGORY and av in _CATEGORY_SOURCE:
            parts.append(_CATEGORY_SOURCE[av])
        else:
            return ""
    return "[" + "".join(parts) + "]"


def _class_chars(items: list[Any]) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            chars.add(" " if chr(av).isspace() else chr(av))
        elif op is _c.RANGE and av[1] - av[0] < _SMALL_CLASS:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is _c.CATEGORY and av is _c.CATEGORY_SPACE:
            chars.add(" ")
        else:
            return None
    return chars if len(chars) <= _SMALL_CLASS else None


def _is_space(body: Any) -> bool:
    if len(body.data) != 1:
        return False
    op, av = body.data[0]
    return (op is _c.LITERAL and chr(av).isspace()) or (op is _c.IN and _class_chars(av) == {" "})


def _trie(words: Iterable[str]) -> str:
    """One regular expression that matches the longest of ``words`` at a place, shaped as a trie."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        # The engine tries a node's branches in turn, so the letters words most often begin with go first.
        ordered = sorted((char for char in node if char), key=lambda char: (_INITIALS.find(char) % 99, char))
        branches = [re.escape(char) + emit(node[char]) for char in ordered]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


@lru_cache(maxsize=16)
def load_lexicon(path: Path | None = None) -> Lexicon:
    """The lexicon in a YAML file, validated and compiled; the bundled one when ``path`` is None.

    Cached per path: the enrich step calls this for every advert.
    """
    if path is None:
        resource = resources.files("toex_stream").joinpath(*BUNDLED_LEXICON)
        origin, text = "/".join(("toex_stream",) + BUNDLED_LEXICON), resource.read_text(encoding="utf-8")
    else:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise LexiconError(f"cannot read the indicator lexicon {origin}: {exc.strerror}; "
                               "give the path of a readable YAML file, or none for the bundled lexicon") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LexiconError(f"{origin} is not valid YAML: {exc}") from None
    lexicon = parse_lexicon(document, origin)
    log.info("indicator lexicon loaded", extra={"lexicon": origin, "lexicon_version": lexicon.version,
                                                "terms": len(lexicon.terms)})
    return lexicon


def parse_lexicon(document: Any, origin: str = "<lexicon>") -> Lexicon:
    """A :class:`Lexicon` from a decoded YAML document; every problem is a :class:`LexiconError`."""
    if not isinstance(document, dict):
        raise LexiconError(f"{origin}: a lexicon is a mapping with the keys {', '.join(_TOP_KEYS)}")
    _known_keys(document, _TOP_KEYS, origin, "the top level")
    for key in _TOP_KEYS:
        if key not in document:
            raise LexiconError(f"{origin}: the top level has no {key!r}; a lexicon needs {', '.join(_TOP_KEYS)}")
    version = document["version"]
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        raise LexiconError(f"{origin}: lexicon version {version!r} is not supported; "
                           f"this toex-stream reads version {SUPPORTED_VERSION}")
    sources = _parse_sources(document["sources"], origin)
    categories = document["categories"]
    if not isinstance(categories, dict) or not categories:
        raise LexiconError(f"{origin}: 'categories' must map category names to their terms")
    terms: list[Term] = []
    descriptions: dict[str, str] = {}
    ids: set[str] = set()
    for category, body in categories.items():
        if category not in INDICATOR_CATEGORIES:
            raise LexiconError(f"{origin}: unknown indicator category {category!r}"
                               f"{_nearest(category, INDICATOR_CATEGORIES)}; "
                               f"the categories are {', '.join(INDICATOR_CATEGORIES)}")
        where = f"{origin}: category {category!r}"
        if not isinstance(body, dict):
            raise LexiconError(f"{where} must be a mapping with a 'description' and a list of 'terms'")
        _known_keys(body, _CATEGORY_KEYS, origin, f"category {category!r}")
        descriptions[category] = _text(body.get("description"), f"{where} needs a one-line 'description'")
        entries = body.get("terms")
        if not isinstance(entries, list):
            raise LexiconError(f"{where} needs 'terms', a list of terms")
        for index, entry in enumerate(entries, 1):
            term = _parse_term(entry, category, index, sources, origin)
            if term.id in ids:
                raise LexiconError(f"{origin}: term id {term.id!r} is used twice; give each term its own id")
            ids.add(term.id)
            terms.append(term)
    return Lexicon(version=version, updated=_date(document["updated"], origin), sources=sources,
                   terms=tuple(terms), descriptions=descriptions)


def _parse_sources(entries: Any, origin: str) -> dict[str, Source]:
    if not isinstance(entries, list) or not entries:
        raise LexiconError(f"{origin}: 'sources' must be a list of published works, "
                           f"each with {', '.join(_SOURCE_KEYS[:5])}")
    sources: dict[str, Source] = {}
    for index, entry in enumerate(entries, 1):
        where = f"{origin}: source {index}"
        if not isinstance(entry, dict):
            raise LexiconError(f"{where} must be a mapping with {', '.join(_SOURCE_KEYS[:5])}")
        _known_keys(entry, _SOURCE_KEYS, origin, f"source {index}")
        source_id = _text(entry.get("id"), f"{where} needs an 'id'")
        year = entry.get("year")
        if not isinstance(year, int) or isinstance(year, bool):
            raise LexiconError(f"{where} ({source_id!r}) needs a 'year', a whole number such as 2014")
        source = Source(
            id=source_id,
            cite=_text(entry.get("cite"), f"{where} ({source_id!r}) needs 'cite', how rationales name it"),
            authors=_text(entry.get("authors"), f"{where} ({source_id!r}) needs 'authors'"),
            year=year,
            title=_text(entry.get("title"), f"{where} ({source_id!r}) needs a 'title'"),
            published=str(entry.get("published") or ""),
        )
        if source.id in sources:
            raise LexiconError(f"{origin}: source id {source.id!r} is listed twice")
        sources[source.id] = source
    return sources


def _parse_term(entry: Any, category: str, index: int, sources: Mapping[str, Source], origin: str) -> Term:
    if not isinstance(entry, dict):
        raise LexiconError(f"{origin}: term {index} in category {category!r} must be a mapping with "
                           f"{', '.join(_TERM_KEYS[1:])}")
    pattern = entry.get("pattern")
    name = entry.get("id") if isinstance(entry.get("id"), str) and entry.get("id") else pattern
    where = f"{origin}: term {name!r} (number {index} in category {category!r})"
    _known_keys(entry, _TERM_KEYS, origin, f"term {name!r} in category {category!r}")
    pattern = _text(pattern, f"{where} needs a 'pattern', a regular expression")
    term_id = _text(name, f"{where} needs an 'id'")
    if _UNSUPPORTED_SYNTAX.search(pattern):
        raise LexiconError(f"{where}: pattern {pattern!r} uses a backreference or a named group, which cannot be "
                           "combined with the other terms; rewrite it without them")
    try:
        compiled = re.compile(fold_pattern(pattern))
    except re.error as exc:
        raise LexiconError(
            f"{where}: pattern {pattern!r} is not a valid regular expression ({exc}); fix the pattern"
        ) from None
    if compiled.fullmatch(""):
        raise LexiconError(f"{where}: pattern {pattern!r} matches empty text, so it would hit every advert; "
                           "make at least one character required")
    language = entry.get("language")
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise LexiconError(f"{where}: 'language' must be an ISO 639-1 code such as en, hu or ro, not {language!r}")
    weight = entry.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise LexiconError(f"{where}: 'weight' must be a number, not {weight!r}")
    if category == NEGATIVE_CATEGORY and weight >= 0:
        raise LexiconError(f"{where}: weight {weight} must be negative: '{NEGATIVE_CATEGORY}' terms lower the risk; "
                           "move the term to a risk category or make its weight negative")
    if category != NEGATIVE_CATEGORY and weight <= 0:
        raise LexiconError(f"{where}: weight {weight} must be positive in a risk category; "
                           f"terms that lower the risk belong in '{NEGATIVE_CATEGORY}'")
    rationale = _text(entry.get("rationale"), f"{where} needs a 'rationale', one line citing a listed source")
    if "\n" in rationale.strip():
        raise LexiconError(f"{where}: the rationale must be one line")
    cited = tuple(s.id for s in sources.values() if s.cite in rationale or s.id in rationale)
    if not cited:
        raise LexiconError(f"{where}: rationale {rationale!r} cites no listed source; name one of "
                           f"{', '.join(s.cite for s in sources.values())}, or add the work to 'sources'")
    return Term(term_id, category, pattern, language, float(weight), rationale.strip(), cited)


def _known_keys(mapping: dict[Any, Any], allowed: tuple[str, ...], origin: str, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise LexiconError(f"{origin}: {where} has an unknown key {key!r}{_nearest(str(key), allowed)}; "
                               f"the keys are {', '.join(allowed)}")


def _nearest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(value: Any, message: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LexiconError(message)
    return value


def _date(value: Any, origin: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise LexiconError(f"{origin}: 'updated' must be a date such as 2026-11-26, not {value!r}") from None
