"""Towns the simulator places events in, with real postcode districts and police forces."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Town:
    name: str
    districts: tuple[str, ...]
    force_code: str
    region: str

    def postcode(self, rng: random.Random) -> str:
        """A postcode in one of the town's districts (the inward code is invented)."""
        sector = rng.randrange(1, 10)
        unit = rng.choice("ABDEFGHJLNPQRSTUWXYZ") + rng.choice("ABDEFGHJLNPQRSTUWXYZ")
        return f"{rng.choice(self.districts)} {sector}{unit}"


WEST_MIDLANDS = [
    Town("Birmingham", ("B1", "B5", "B6", "B10", "B11", "B12", "B19", "B21"), "west-midlands", "ROCUWM"),
    Town("Wolverhampton", ("WV1", "WV2", "WV3", "WV10", "WV11"), "west-midlands", "ROCUWM"),
    Town("Coventry", ("CV1", "CV2", "CV3", "CV5", "CV6"), "west-midlands", "ROCUWM"),
    Town("Walsall", ("WS1", "WS2", "WS3", "WS5"), "west-midlands", "ROCUWM"),
]
NORTHAMPTONSHIRE = [
    Town("Northampton", ("NN1", "NN2", "NN3", "NN5"), "northamptonshire", "EMSOU"),
    Town("Kettering", ("NN15", "NN16"), "northamptonshire", "EMSOU"),
    Town("Corby", ("NN17", "NN18"), "northamptonshire", "EMSOU"),
    Town("Wellingborough", ("NN8", "NN9"), "northamptonshire", "EMSOU"),
]
ELSEWHERE = [
    Town("Leeds", ("LS1", "LS2", "LS6", "LS9"), "west-yorkshire", "YHROCU"),
    Town("Sheffield", ("S1", "S2", "S3", "S11"), "south-yorkshire", "YHROCU"),
    Town("Manchester", ("M1", "M4", "M8", "M14"), "greater-manchester", "NWROCU"),
    Town("Liverpool", ("L1", "L3", "L7", "L8"), "merseyside", "NWROCU"),
    Town("Wrexham", ("LL11", "LL12", "LL13"), "north-wales", "NWROCU"),
    Town("Newcastle upon Tyne", ("NE1", "NE4", "NE6"), "northumbria", "NERSOU"),
    Town("Middlesbrough", ("TS1", "TS3", "TS5"), "cleveland", "NERSOU"),
    Town("Nottingham", ("NG1", "NG2", "NG7"), "nottinghamshire", "EMSOU"),
    Town("Leicester", ("LE1", "LE2", "LE4"), "leicestershire", "EMSOU"),
    Town("Norwich", ("NR1", "NR2", "NR3"), "norfolk", "ERSOU"),
    Town("Canterbury", ("CT1", "CT2"), "kent", "ERSOU"),
    Town("Maidstone", ("ME14", "ME15", "ME16"), "kent", "ERSOU"),
    Town("Reading", ("RG1", "RG2", "RG30"), "thames-valley", "SEROCU"),
    Town("Southampton", ("SO14", "SO15", "SO17"), "hampshire", "SEROCU"),
    Town("Bristol", ("BS1", "BS2", "BS5"), "avon-and-somerset", "SWROCU"),
    Town("Plymouth", ("PL1", "PL4"), "devon-and-cornwall", "SWROCU"),
    Town("Cardiff", ("CF10", "CF11", "CF24"), "south-wales", "TARIAN"),
    Town("Swansea", ("SA1", "SA2"), "south-wales", "TARIAN"),
    Town("London", ("E1", "E8", "N7", "SE1", "SW9", "W2", "NW1"), "metropolitan", "LONDON"),
    Town("Stoke-on-Trent", ("ST1", "ST4", "ST6"), "staffordshire", "ROCUWM"),
]
ALL_TOWNS = WEST_MIDLANDS + NORTHAMPTONSHIRE + ELSEWHERE

# Ofcom's drama ranges for geographic numbers: a hotel switchboard no real guest has.
HOTEL_SWITCHBOARDS = ["+441214960100", "+441614960200", "+442079460300", "+441134960400"]
