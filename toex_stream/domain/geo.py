"""Resolve a place to its police force and ROCU region, so that an alert reaches the right team.

A place arrives as a postcode, a town, or only as the force that reported it
(an intelligence report's ``force_code``). :func:`resolve` tries them in that
order; the first that names one of the 43 forces of England and Wales decides,
and the force gives the region. Forces are named by their police.uk
identifiers (``west-midlands``, ``kent``, ``north-wales``, ...).

>>> resolve(postcode="ct1  2ab")
Jurisdiction(force_code='kent', region='ERSOU', basis='postcode')
>>> resolve(postcode="B77 1AA")
Jurisdiction(force_code='staffordshire', region='ROCUWM', basis='postcode')
>>> resolve(town="Stoke on Trent")
Jurisdiction(force_code='staffordshire', region='ROCUWM', basis='town')
>>> resolve(postcode="1051 Budapest", force_code="north-wales")
Jurisdiction(force_code='north-wales', region='NWROCU', basis='force')
>>> resolve(postcode="EH1 1YZ", town="Edinburgh")
Jurisdiction(force_code=None, region='UNKNOWN', basis='postcode')

The data is approximate. ``data/postcode_districts.csv`` maps each postcode
area to the force covering most of it, with exceptions by district. It is
compiled by hand, not from the ONS postcode directory: each district is
placed whole in the force believed to cover most of it, though some straddle
a force boundary (the file's ``note`` column names the known splits, e.g.
``CH4``: Chester with Saltney in Flintshire). Postcodes are Royal Mail
delivery routes, not police areas, so an address near a boundary can resolve
to the neighbouring force; neighbouring forces often share a region, so the
region is wrong less often than the force. ``data/towns.csv`` names the
largest towns and cities and the counties of England and Wales; a town name
shared by several places resolves to the largest, or is left out when none
dominates.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Literal

from toex_stream.domain.contract import Region
from toex_stream.domain.errors import ToexError

Basis = Literal["postcode", "town", "force", "none"]

_REGION_FORCES: dict[Region, tuple[str, ...]] = {
    "NERSOU": ("northumbria", "durham", "cleveland"),
    "NWROCU": ("cheshire", "cumbria", "greater-manchester", "lancashire", "merseyside", "north-wales"),
    "YHROCU": ("humberside", "north-yorkshire", "south-yorkshire", "west-yorkshire"),
    "EMSOU": ("derbyshire", "leicestershire", "lincolnshire", "northamptonshire", "nottinghamshire"),
    "ROCUWM": ("west-midlands", "staffordshire", "warwickshire", "west-mercia"),
    "ERSOU": ("bedfordshire", "cambridgeshire", "essex", "hertfordshire", "kent", "norfolk", "suffolk"),
    "SEROCU": ("thames-valley", "hampshire", "surrey", "sussex"),
    "SWROCU": ("avon-and-somerset", "devon-and-cornwall", "dorset", "gloucestershire", "wiltshire"),
    "TARIAN": ("south-wales", "gwent", "dyfed-powys"),
    "LONDON": ("metropolitan", "city-of-london"),
}

#: The 43 territorial police forces of England and Wales, each to its ROCU region.
FORCE_REGIONS: Mapping[str, Region] = MappingProxyType(
    {force: region for region, forces in _REGION_FORCES.items() for force in forces}
)

_DATA = "data"
_POSTCODE_FILE = "postcode_districts.csv"
_TOWN_FILE = "towns.csv"

_AREA_RE = re.compile(r"[A-Z]{1,2}")
_OUTWARD = r"([A-Z]{1,2})([0-9][0-9A-Z]?)"
_OUTWARD_RE = re.compile(_OUTWARD)
_POSTCODE_RE = re.compile(_OUTWARD + r"([0-9][A-Z]{2})")
_DISTRICT_RE = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]?")


class GeoDataError(ToexError):
    """A bundled place table is malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Jurisdiction:
    """Where an event belongs: the force, its region, and what decided it.

    ``force_code`` is None when no force of England and Wales was found; with
    ``basis="postcode"`` that means the postcode is in Scotland, Northern
    Ireland, the Channel Islands or the Isle of Man.
    """

    force_code: str | None
    region: Region
    basis: Basis


def parse_uk_postcode(text: str) -> tuple[str, str | None] | None:
    """(outward, inward) of a UK postcode written any common way; None if not UK-shaped.

    Case and spacing do not matter. An outward code alone (``'B1'``, a
    district, as adverts often give) comes back with inward None. The
    postcode area (its leading letters) must be a real UK area, so that
    ``'D02'`` (Dublin) or ``'K1A 0B1'`` (Ottawa) is not taken for one.

    >>> parse_uk_postcode("b11aa"), parse_uk_postcode(" ct1  2ab ")
    (('B1', '1AA'), ('CT1', '2AB'))
    >>> parse_uk_postcode("B1"), parse_uk_postcode("ec2v 7hh"), parse_uk_postcode("EH1")
    (('B1', None), ('EC2V', '7HH'), ('EH1', None))
    >>> parse_uk_postcode("1051 Budapest"), parse_uk_postcode("010011"), parse_uk_postcode("D02 X285")
    (None, None, None)
    """
    compact = "".join(text.split()).upper()
    match = _POSTCODE_RE.fullmatch(compact)
    if match is not None:
        area, district, inward = match.groups()
    else:
        match = _OUTWARD_RE.fullmatch(compact)
        if match is None:
            return None
        (area, district), inward = match.groups(), None
    if area not in _uk_areas():
        return None
    return area + district, inward


def force_region(force_code: str | None) -> Region:
    """The ROCU region of a police.uk force identifier; ``"UNKNOWN"`` for None or an unknown force.

    Case, spaces and ``&`` are forgiven, as force names are often typed by hand.

    >>> force_region("kent"), force_region("north-wales"), force_region("Avon & Somerset")
    ('ERSOU', 'NWROCU', 'SWROCU')
    >>> force_region("police-scotland"), force_region(None)
    ('UNKNOWN', 'UNKNOWN')
    """
    return FORCE_REGIONS.get(_force_slug(force_code), "UNKNOWN") if force_code else "UNKNOWN"


def resolve(postcode: str | None = None, town: str | None = None, force_code: str | None = None) -> Jurisdiction:
    """The force and region of a place: postcode first, then town, then the force given.

    A postcode of England and Wales decides, whatever the town says (a
    postcode is the more precise of the two). A UK postcode outside England
    and Wales also decides, to no force and ``UNKNOWN``: the place is known
    to be outside every region. Anything else that is not a UK postcode
    (``'1051 Budapest'``) is passed over, as is a town not in the table and
    a force code that is not one of the 43. ``UNKNOWN`` with basis ``none``
    when nothing resolves.

    >>> resolve(postcode="E1 6AN", town="Wolverhampton")
    Jurisdiction(force_code='metropolitan', region='LONDON', basis='postcode')
    >>> resolve(town="Canterbury, Kent")
    Jurisdiction(force_code='kent', region='ERSOU', basis='town')
    >>> resolve(town="Budapest")
    Jurisdiction(force_code=None, region='UNKNOWN', basis='none')
    """
    if postcode:
        parsed = parse_uk_postcode(postcode)
        if parsed is not None:
            force = _postcode_force(parsed[0])
            return Jurisdiction(force, force_region(force), "postcode")
    if town:
        force = _town_force(town)
        if force is not None:
            return Jurisdiction(force, FORCE_REGIONS[force], "town")
    if force_code:
        force = _force_slug(force_code)
        if force in FORCE_REGIONS:
            return Jurisdiction(force, FORCE_REGIONS[force], "force")
    return Jurisdiction(None, "UNKNOWN", "none")


# -- lookups -------------------------------------------------------------------


def _postcode_force(outward: str) -> str | None:
    """The force of an outward code: the longest of sub-district, district and area in the table wins.

    Prefixes are whole parts of the code, never bare strings: ``CH4`` does not
    match ``CH41``. ``EC1V`` tries ``EC1V``, then ``EC1``, then ``EC``.
    """
    table = _postcode_table()
    area = outward[: 2 if outward[1].isalpha() else 1]
    district = outward[:-1] if outward[-1].isalpha() else outward
    for prefix in (outward, district, area):
        if prefix in table:
            return table[prefix]
    return None


def _town_force(town: str) -> str | None:
    """The force of a town, trying the whole text, then each part ('Canterbury, Kent', 'Leeds (West Yorkshire)')."""
    table = _town_table()
    for candidate in (town, *re.split(r"[,/;()]", town)):
        force = table.get(_town_key(candidate))
        if force is not None:
            return force
    return None


def _town_key(name: str) -> str:
    """A town name without case, accents or punctuation: 'Stoke-on-Trent' = 'stoke on trent'.

    >>> _town_key("Stoke-on-Trent"), _town_key("  ST. ALBANS "), _town_key("Saint Albans"), _town_key("Ynys Môn")
    ('stoke on trent', 'st albans', 'st albans', 'ynys mon')
    """
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    words = re.sub(r"[^0-9a-z]+", " ", re.sub(r"['\u2019]", "", plain)).split()
    return " ".join("st" if word == "saint" else word for word in words)


def _force_slug(force_code: str) -> str:
    """A force code as police.uk writes it: 'Avon & Somerset' -> 'avon-and-somerset'."""
    return "-".join(_town_key(force_code.replace("&", " and ")).split())


# -- bundled data (read once, on first use) --------------------------------------


def _read_rows(filename: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    text = resources.files("toex_stream").joinpath(_DATA, filename).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise GeoDataError(f"{filename}: the header must be {','.join(columns)!r}, not {reader.fieldnames!r}")
    return [(reader.line_num, row) for row in reader]


def _checked_force(filename: str, line: int, force: str) -> str:
    if force not in FORCE_REGIONS:
        raise GeoDataError(
            f"{filename} line {line}: {force!r} is not a force of England and Wales;"
            " use a police.uk identifier such as 'west-midlands' (or leave it empty outside England and Wales)"
        )
    return force


@cache
def _postcode_table() -> Mapping[str, str | None]:
    """Postcode prefix (area, district or sub-district) to force, None outside England and Wales."""
    table: dict[str, str | None] = {}
    for line, row in _read_rows(_POSTCODE_FILE, ("prefix", "force_code", "note")):
        prefix, force = row["prefix"].strip(), row["force_code"].strip()
        if not (_AREA_RE.fullmatch(prefix) or _DISTRICT_RE.fullmatch(prefix)):
            raise GeoDataError(
                f"{_POSTCODE_FILE} line {line}: prefix {prefix!r} is neither an area ('CT') nor a district ('B49')"
            )
        if prefix in table:
            raise GeoDataError(f"{_POSTCODE_FILE} line {line}: prefix {prefix!r} is listed twice; keep one row")
        table[prefix] = _checked_force(_POSTCODE_FILE, line, force) if force else None
    return MappingProxyType(table)


@cache
def _uk_areas() -> frozenset[str]:
    return frozenset(prefix for prefix in _postcode_table() if _AREA_RE.fullmatch(prefix))


@cache
def _town_table() -> Mapping[str, str]:
    """Town key (see :func:`_town_key`) to force."""
    table: dict[str, str] = {}
    for line, row in _read_rows(_TOWN_FILE, ("town", "force_code")):
        key = _town_key(row["town"])
        if not key or key in table:
            raise GeoDataError(f"{_TOWN_FILE} line {line}: town {row['town']!r} is empty or listed twice; keep one row")
        table[key] = _checked_force(_TOWN_FILE, line, row["force_code"].strip())
    return MappingProxyType(table)
