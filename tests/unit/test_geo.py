"""Places resolve to the force and ROCU region a regional team would expect, from the bundled data."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources
from typing import get_args

import pytest

from toex_stream.domain import geo
from toex_stream.domain.contract import Region
from toex_stream.domain.geo import Jurisdiction, force_region, parse_uk_postcode, resolve

FORCES_OF_ENGLAND_AND_WALES = {
    "west-midlands",
    "kent",
    "north-wales",
    "metropolitan",
    "city-of-london",
    "avon-and-somerset",
    "devon-and-cornwall",
    "dyfed-powys",
    "gwent",
    "south-wales",
    "thames-valley",
    "greater-manchester",
    "west-yorkshire",
    "south-yorkshire",
    "north-yorkshire",
    "humberside",
    "northumbria",
    "durham",
    "cleveland",
    "cumbria",
    "lancashire",
    "merseyside",
    "cheshire",
    "derbyshire",
    "leicestershire",
    "lincolnshire",
    "northamptonshire",
    "nottinghamshire",
    "staffordshire",
    "warwickshire",
    "west-mercia",
    "bedfordshire",
    "cambridgeshire",
    "essex",
    "hertfordshire",
    "norfolk",
    "suffolk",
    "hampshire",
    "surrey",
    "sussex",
    "dorset",
    "gloucestershire",
    "wiltshire",
}


def data_rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("toex_stream").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("postcode", "force", "region"),
    [
        ("CT1 2AB", "kent", "ERSOU"),
        ("ME14 1XX", "kent", "ERSOU"),
        ("LL11 1AA", "north-wales", "NWROCU"),
        ("LL57 2DG", "north-wales", "NWROCU"),
        ("CH7 1AB", "north-wales", "NWROCU"),
        ("B1 1AA", "west-midlands", "ROCUWM"),
        ("B77 2AA", "staffordshire", "ROCUWM"),
        ("B60 1AA", "west-mercia", "ROCUWM"),
        ("CV1 2AA", "west-midlands", "ROCUWM"),
        ("CV32 4AA", "warwickshire", "ROCUWM"),
        ("WS11 1AA", "staffordshire", "ROCUWM"),
        ("WS1 1AA", "west-midlands", "ROCUWM"),
        ("NN1 1AA", "northamptonshire", "EMSOU"),
        ("E1 6AN", "metropolitan", "LONDON"),
        ("EC2V 7HH", "city-of-london", "LONDON"),
        ("EC1V 2NX", "metropolitan", "LONDON"),
        ("SW1A 1AA", "metropolitan", "LONDON"),
        ("BR8 7AA", "kent", "ERSOU"),
        ("CF10 1AA", "south-wales", "TARIAN"),
        ("CF83 1AA", "gwent", "TARIAN"),
        ("SA31 1AA", "dyfed-powys", "TARIAN"),
        ("SA1 1AA", "south-wales", "TARIAN"),
        ("NP20 1AA", "gwent", "TARIAN"),
        ("LS1 4AP", "west-yorkshire", "YHROCU"),
        ("NE1 4ST", "northumbria", "NERSOU"),
        ("PO30 1AA", "hampshire", "SEROCU"),
        ("BS1 4DJ", "avon-and-somerset", "SWROCU"),
        ("TD15 1AA", "northumbria", "NERSOU"),
    ],
)
def test_a_postcode_resolves_to_its_force_and_region(postcode, force, region):
    assert resolve(postcode=postcode) == Jurisdiction(force, region, "postcode")


@pytest.mark.parametrize("written", ["CT1 2AB", "ct12ab", " ct1  2ab ", "Ct1 2aB", "CT1"])
def test_a_postcode_is_understood_however_it_is_written(written):
    assert resolve(postcode=written).force_code == "kent"


def test_a_district_is_not_mistaken_for_a_longer_one():
    # CH4 is Chester (cheshire); CH41 is Birkenhead (merseyside): prefixes are whole parts of the code.
    assert resolve(postcode="CH4 7AA").force_code == "cheshire"
    assert resolve(postcode="CH41 1AA").force_code == "merseyside"
    assert resolve(postcode="B6 4AA").force_code == "west-midlands"
    assert resolve(postcode="B60 4AA").force_code == "west-mercia"


def test_parse_gives_outward_and_inward_codes():
    assert parse_uk_postcode("b11aa") == ("B1", "1AA")
    assert parse_uk_postcode("B1 1AA") == ("B1", "1AA")
    assert parse_uk_postcode("ct1  2ab") == ("CT1", "2AB")
    assert parse_uk_postcode("SW1A1AA") == ("SW1A", "1AA")
    assert parse_uk_postcode("B1") == ("B1", None)
    assert parse_uk_postcode("EH1") == ("EH1", None)


@pytest.mark.parametrize("text", ["1051 Budapest", "010011", "", "Birmingham", "D02 X285", "K1A 0B1", "CT"])
def test_parse_refuses_what_is_not_a_uk_postcode(text):
    assert parse_uk_postcode(text) is None


@pytest.mark.parametrize("postcode", ["EH1 1YZ", "G1 1AA", "BT1 5GS", "JE2 4WE", "GY1 1AA", "IM1 1AA"])
def test_uk_postcodes_outside_england_and_wales_are_recognised_but_have_no_force(postcode):
    assert parse_uk_postcode(postcode) is not None
    assert resolve(postcode=postcode) == Jurisdiction(None, "UNKNOWN", "postcode")


@pytest.mark.parametrize("postcode", ["1051 Budapest", "010011"])
def test_a_foreign_postcode_gives_unknown_unless_the_town_resolves(postcode):
    assert resolve(postcode=postcode) == Jurisdiction(None, "UNKNOWN", "none")
    assert resolve(postcode=postcode, town="Budapest") == Jurisdiction(None, "UNKNOWN", "none")
    assert resolve(postcode=postcode, town="Leeds") == Jurisdiction("west-yorkshire", "YHROCU", "town")


@pytest.mark.parametrize(
    ("town", "force", "region"),
    [
        ("Wolverhampton", "west-midlands", "ROCUWM"),
        ("stoke on trent", "staffordshire", "ROCUWM"),
        ("Stoke-on-Trent", "staffordshire", "ROCUWM"),
        ("STOKE-ON-TRENT", "staffordshire", "ROCUWM"),
        ("Northampton", "northamptonshire", "EMSOU"),
        ("Corby", "northamptonshire", "EMSOU"),
        ("Canterbury", "kent", "ERSOU"),
        ("Wrexham", "north-wales", "NWROCU"),
        ("Cardiff", "south-wales", "TARIAN"),
        ("London", "metropolitan", "LONDON"),
        ("St. Albans", "hertfordshire", "ERSOU"),
        ("Saint Albans", "hertfordshire", "ERSOU"),
        ("Kings Lynn", "norfolk", "ERSOU"),
        ("King\u2019s Lynn", "norfolk", "ERSOU"),
        ("Ynys Mon", "north-wales", "NWROCU"),
        ("Maidstone, Kent", "kent", "ERSOU"),
        ("Leeds (West Yorkshire)", "west-yorkshire", "YHROCU"),
    ],
)
def test_a_town_without_a_postcode_resolves(town, force, region):
    assert resolve(town=town) == Jurisdiction(force, region, "town")


def test_an_intel_reports_force_is_the_last_resort():
    assert resolve(force_code="kent") == Jurisdiction("kent", "ERSOU", "force")
    assert resolve(town="Budapest", force_code="kent") == Jurisdiction("kent", "ERSOU", "force")
    assert resolve(town="Leeds", force_code="kent").basis == "town"
    assert resolve(force_code="police-scotland") == Jurisdiction(None, "UNKNOWN", "none")


def test_the_postcode_wins_over_a_conflicting_town():
    assert resolve(postcode="CT1 2AB", town="Wolverhampton") == Jurisdiction("kent", "ERSOU", "postcode")


def test_nothing_given_is_unknown():
    assert resolve() == Jurisdiction(None, "UNKNOWN", "none")
    assert resolve(postcode="", town="", force_code="") == Jurisdiction(None, "UNKNOWN", "none")


def test_force_region_follows_the_design():
    assert force_region("kent") == "ERSOU"
    assert force_region("north-wales") == "NWROCU"
    assert force_region("city-of-london") == "LONDON"
    assert force_region("no-such-force") == "UNKNOWN"
    assert force_region(None) == "UNKNOWN"


def test_every_force_has_a_region_and_every_region_a_force():
    assert set(geo.FORCE_REGIONS) == FORCES_OF_ENGLAND_AND_WALES
    regions = set(get_args(Region)) - {"UNKNOWN"}
    assert set(geo.FORCE_REGIONS.values()) == regions


def test_every_force_appears_in_the_postcode_data():
    forces = {row["force_code"] for row in data_rows("postcode_districts.csv")} - {""}
    assert forces == FORCES_OF_ENGLAND_AND_WALES


def test_postcode_prefixes_are_unique_and_well_formed():
    prefixes = [row["prefix"] for row in data_rows("postcode_districts.csv")]
    assert len(prefixes) == len(set(prefixes))
    assert all(re.fullmatch(r"[A-Z]{1,2}([0-9][0-9A-Z]?)?", prefix) for prefix in prefixes)


def test_every_force_code_in_the_data_is_one_of_the_43():
    for filename in ("postcode_districts.csv", "towns.csv"):
        codes = {row["force_code"] for row in data_rows(filename)} - {""}
        assert codes <= FORCES_OF_ENGLAND_AND_WALES, filename


def test_every_district_exception_has_its_area():
    prefixes = {row["prefix"] for row in data_rows("postcode_districts.csv")}
    areas = {prefix for prefix in prefixes if prefix.isalpha()}
    assert {re.match(r"[A-Z]+", prefix).group() for prefix in prefixes} == areas


def test_every_postcode_area_of_england_and_wales_is_covered():
    rows = data_rows("postcode_districts.csv")
    england_and_wales = {row["prefix"] for row in rows if row["prefix"].isalpha() and row["force_code"]}
    london_and_border = {"E", "EC", "N", "NW", "SE", "SW", "W", "WC", "LL", "LD", "SY", "NP", "CF", "SA", "HR", "CH"}
    assert london_and_border <= england_and_wales
    assert len(england_and_wales) >= 104
    scotland = {"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE"}
    for area in scotland | {"BT", "GY", "JE", "IM"}:
        assert parse_uk_postcode(area + "1") is not None, area
        assert resolve(postcode=area + "1").force_code is None, area


def test_town_data_has_at_least_the_largest_towns_and_no_duplicates():
    towns = [geo._town_key(row["town"]) for row in data_rows("towns.csv")]
    assert len(towns) == len(set(towns))
    assert len(towns) >= 150
