"""The comparable form of a person: built once per nominal or mention, compared many times.

Everything matching needs is normalised here, so comparisons are cheap: name
variants as folded tokens with canonical given names, identifiers in their
normal forms, a date of birth or an age range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from toex_stream.domain import contract
from toex_stream.domain.matching.names import canonical_given, fold, fold_tokens, phonetic
from toex_stream.domain.normalise import normalise_email, normalise_phone, normalise_postcode


@dataclass(frozen=True, slots=True)
class NameVariant:
    """One way a record writes the name: given tokens and family tokens, folded.

    The canonical forms compared most often are computed once here.
    """

    given: tuple[str, ...]
    family: tuple[str, ...]
    canonical: str = field(init=False, compare=False)  # of the first given token
    family_canonical: str = field(init=False, compare=False)  # of the first family token, for swapped order
    family_text: str = field(init=False, compare=False)
    given_text: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical", canonical_given(self.given[0]) if self.given else "")
        object.__setattr__(self, "family_canonical", canonical_given(self.family[0]) if self.family else "")
        object.__setattr__(self, "family_text", " ".join(self.family))
        object.__setattr__(self, "given_text", " ".join(self.given))


@dataclass(slots=True)
class MatchRecord:
    """A person in comparable form (a nominal in the index, or a mention being matched)."""

    record_id: str
    names: tuple[NameVariant, ...] = ()
    dob: dt.date | None = None
    birth_years: tuple[int, int] | None = None  # from a stated age when no date is known
    gender: str | None = None
    nationality: str | None = None
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    postcode: str | None = None
    district: str | None = None
    address: str = ""
    flags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def _variants(given: str | None, family: str | None, aliases: Iterable[str] = ()) -> tuple[NameVariant, ...]:
    variants: list[NameVariant] = []
    given_tokens, family_tokens = fold_tokens(given), fold_tokens(family)
    if given_tokens or family_tokens:
        if not given_tokens and len(family_tokens) >= 2:
            # The whole name in one field: either order is possible (Hungarian family-name-first).
            variants.append(NameVariant(family_tokens[-1:], family_tokens[:-1]))
            variants.append(NameVariant(family_tokens[:1], family_tokens[1:]))
        elif not family_tokens and len(given_tokens) >= 2:
            variants.append(NameVariant(given_tokens[:1], given_tokens[1:]))
            variants.append(NameVariant(given_tokens[-1:], given_tokens[:-1]))
        else:
            variants.append(NameVariant(given_tokens, family_tokens))
    for alias in aliases:
        tokens = fold_tokens(alias)
        if len(tokens) >= 2:
            variants.append(NameVariant(tokens[:1], tokens[1:]))
        elif tokens:
            variants.append(NameVariant(tokens, ()))
    return tuple(dict.fromkeys(variants))


def _district(postcode: str | None) -> str | None:
    return postcode.split(" ")[0] if postcode and " " in postcode else None


def _postcode(raw: str | None) -> str | None:
    if not raw:
        return None
    return normalise_postcode(raw).upper() or None


def record_from_nominal(nominal: contract.Nominal) -> MatchRecord:
    postcode = next((a.postcode for a in nominal.addresses if a.postcode), None)
    address = " ".join(a.text or "" for a in nominal.addresses)
    normal_postcode = _postcode(postcode)
    return MatchRecord(
        record_id=nominal.nominal_id,
        names=_variants(nominal.given_name, nominal.family_name, nominal.aliases),
        dob=nominal.date_of_birth,
        gender=nominal.gender if nominal.gender in ("female", "male") else None,
        nationality=nominal.nationality,
        phones=frozenset(normalise_phone(p) for p in nominal.phones),
        emails=frozenset(normalise_email(e) for e in nominal.emails),
        postcode=normal_postcode,
        district=_district(normal_postcode),
        address=fold(address),
        flags=tuple(nominal.flags),
    )


def record_from_mention(mention: contract.Mention, on: dt.date) -> MatchRecord:
    """A mention as of the event's date (to turn a stated age into birth years)."""
    birth_years = None
    if mention.date_of_birth is None and mention.age is not None:
        birth_years = (on.year - mention.age - 1, on.year - mention.age)
    postcode = next((a.postcode for a in mention.addresses if a.postcode), None)
    normal_postcode = _postcode(postcode)
    return MatchRecord(
        record_id=mention.mention_id,
        names=_variants(mention.given_name, mention.family_name, mention.aliases),
        dob=mention.date_of_birth,
        birth_years=birth_years,
        gender=mention.gender if mention.gender in ("female", "male") else None,
        nationality=mention.nationality,
        phones=frozenset(mention.phones),  # enrich has normalised them already
        emails=frozenset(mention.emails),
        postcode=normal_postcode,
        district=_district(normal_postcode),
        address=fold(" ".join(a.text or "" for a in mention.addresses)),
    )


def record_from_row(row: dict[str, str]) -> MatchRecord:
    """A row of the Person CSV (DESIGN.md), for evaluation: values as written, normalised here."""
    from toex_stream.domain.matching.dates import parse_date

    def values(column: str) -> list[str]:
        return [v.strip() for v in (row.get(column) or "").split(";") if v.strip()]

    postcode = _postcode(row.get("postcode"))
    gender = (row.get("gender") or "").strip().lower()
    return MatchRecord(
        record_id=row["record_id"],
        names=_variants(row.get("given_name"), row.get("family_name"), values("aliases")),
        dob=parse_date(row.get("date_of_birth") or ""),
        gender=gender if gender in ("female", "male") else None,
        nationality=(row.get("nationality") or "").strip().upper() or None,
        phones=frozenset(normalise_phone(p) for p in values("phone")),
        emails=frozenset(normalise_email(e) for e in values("email")),
        postcode=postcode,
        district=_district(postcode),
        address=fold(row.get("address") or ""),
        flags=tuple(values("flags")),
    )


def blocking_keys(record: MatchRecord) -> set[tuple[str, ...]]:
    """The index keys a record is filed under; a mention is looked up under the same keys.

    Keys combine different fields so that an error in any one field (a typo in
    the family name, a swapped date, a new phone) still leaves a shared key.

    >>> r = MatchRecord("n1", names=(NameVariant(("reka",), ("kovacs",)),), dob=dt.date(2003, 4, 17))
    >>> sorted(blocking_keys(r))[:3]
    [('d', '2003-04-17'), ('d', '2003-17-04'), ('fy', 'CAVAC', '2003')]
    """
    keys: set[tuple[str, ...]] = set()
    years: list[int] = []
    if record.dob is not None:
        keys.add(("d", record.dob.isoformat()))
        keys.add(("d", f"{record.dob.year:04d}-{record.dob.day:02d}-{record.dob.month:02d}"))  # swapped
        years = [record.dob.year]
    elif record.birth_years is not None:
        years = list(range(record.birth_years[0], record.birth_years[1] + 1))
    for variant in record.names:
        families = [phonetic(t) for t in variant.family if len(t) > 1]
        givens = [canonical_given(t) for t in variant.given[:1]]
        for family_key in families:
            for given in givens:
                # Sorted, so family-name-first order files under the same key.
                keys.add(("n", *sorted((family_key, phonetic(given)))))
            for year in years:
                keys.add(("fy", family_key, str(year)))
        for given in givens:
            for year in years:
                keys.add(("gy", phonetic(given), str(year)))
            # A typing error past the second letter of either name, when nothing else is known.
            for family in variant.family[:1]:
                keys.add(("g2", phonetic(given), family[:2]))
                keys.add(("g2", phonetic(family), given[:2]))  # the same key for family-name-first order
            if record.postcode:
                keys.add(("gp", given[:1], record.postcode))
    for phone in record.phones:
        keys.add(("p", phone))
    for email in record.emails:
        keys.add(("e", email))
    if record.postcode and record.dob is not None:
        keys.add(("pd", record.postcode, str(record.dob.year)))
    street = record.address.split(" ", 1)[0] if record.address else ""
    if len(street) > 2:
        street_key = phonetic(street)
        if record.postcode:
            keys.add(("ap", street_key, record.postcode))
        for variant in record.names:
            for token in variant.family[:1]:
                keys.add(("af", street_key, phonetic(token)))
    return keys
