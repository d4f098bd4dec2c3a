"""The scenarios: event streams modelled on published case patterns, with their ground truth.

- ``headdress``: an organised group recruits women in Hungary through family and
  friends; adverts for them run across West Midlands towns, moving town every
  few days, with a few controller phone numbers rotating across adverts; debt
  bondage appears in a third-sector referral; intelligence from two forces
  names a controller.
- ``booker``: a labour-exploitation gang brings Romanian workers to
  Northamptonshire with job offers, takes their ID documents and phones; one
  partner referral, intelligence from Northamptonshire Police and a
  neighbouring force.
- ``background``: ordinary adverts, unrelated referrals and intelligence that
  should not alert (some carry indicators, some share a hotel switchboard).

Each scenario yields events in event-time order; :func:`arrival_order` then
delays each by a random feed latency, so the stream arrives out of order.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from toex_stream.domain.contract import TOPIC_ADVERTS, TOPIC_INTEL, TOPIC_REFERRALS
from toex_stream.tools.simulate import text
from toex_stream.tools.simulate.people import (
    FAMILY_NAMES,
    PersonFactory,
    SimPerson,
    SimRandom,
    fold,
    render_dob,
    render_name,
    render_phone,
)
from toex_stream.tools.simulate.places import ALL_TOWNS, HOTEL_SWITCHBOARDS, NORTHAMPTONSHIRE, WEST_MIDLANDS, Town

START = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
MAX_FEED_DELAY = dt.timedelta(days=2)
ADVERT_SOURCES = ("classifieds-a", "adult-listings-b", "escort-directory-c")


@dataclass
class SimEvent:
    """One generated event with its truth."""

    topic: str
    key: str
    value: dict[str, Any]
    event_time: dt.datetime
    persons: list[str]  # person_id of mention 0, 1, ...
    network: str | None
    outcome: str
    label_delay_days: int
    arrival: dt.datetime = field(default=START)

    def truth(self) -> dict[str, Any]:
        ref = f"{self.topic}:{self.key}"
        return {
            "type": "event",
            "topic": self.topic,
            "key": self.key,
            "event_time": self.event_time.isoformat(),
            "arrival_time": self.arrival.isoformat(),
            "network": self.network,
            "mentions": [{"mention_id": f"{ref}#{i}", "person_id": p} for i, p in enumerate(self.persons)],
            "outcome": self.outcome,
            "label_delay_days": self.label_delay_days,
        }


@dataclass
class Network:
    name: str
    region: str
    force_codes: list[str]
    members: dict[str, str]  # person_id -> role in the network

    def truth(self) -> dict[str, Any]:
        return {
            "type": "network",
            "network": self.name,
            "region": self.region,
            "force_codes": self.force_codes,
            "members": [{"person_id": p, "role": r} for p, r in sorted(self.members.items())],
        }


@dataclass
class NominalRecord:
    """A person a force already holds, as a row of the Person CSV."""

    record_id: str
    person: SimPerson
    flags: list[str]
    owning_force: str
    phones: list[str]

    def row(self) -> dict[str, str]:
        p = self.person
        return {
            "record_id": self.record_id,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "date_of_birth": p.date_of_birth.isoformat(),
            "gender": p.gender,
            "nationality": p.nationality,
            # As force systems hold them: national format, spaced.
            "phone": ";".join(f"0{n[3:7]} {n[7:]}" if n.startswith("+44") else n for n in self.phones),
            "email": ";".join(p.emails),
            "address": p.address or "",
            "postcode": p.postcode or "",
            "aliases": "",
            "flags": ";".join(self.flags),
            "owning_force": self.owning_force,
        }


@dataclass
class Scenario:
    name: str
    events: Iterator[SimEvent]
    networks: list[Network]
    nominals: list[NominalRecord]


# -- helpers ---------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _person_json(
    rng: random.Random, person: SimPerson, role: str, on: dt.date, *, phones: list[str] | None = None,
    address: dict[str, Any] | None = None, variation: float = 0.5,
) -> dict[str, Any]:
    given, family, aliases = render_name(rng, person, variation)
    dob, age = render_dob(rng, person, on)
    shown_phones = person.phones if phones is None else phones
    return {
        "given_name": given,
        "family_name": family,
        "aliases": aliases,
        "date_of_birth": dob,
        "age": age,
        "gender": person.gender,
        "nationality": person.nationality if rng.random() < 0.85 else None,
        "phones": [render_phone(rng, p) for p in shown_phones],
        "emails": list(person.emails) if rng.random() < 0.5 else [],
        "addresses": [address] if address else [],
        "role": role,
    }


def _address(rng: random.Random, town: Town, street_no: int | None = None) -> dict[str, Any]:
    streets = ("Station Road", "Victoria Street", "Church Lane", "Park Avenue", "Mill Street", "High Street")
    number = street_no if street_no is not None else rng.randrange(1, 200)
    return {"text": f"{number} {rng.choice(streets)}", "postcode": town.postcode(rng), "town": town.name}


def _flip_bits(rng: random.Random, hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16)
    for _ in range(bits):
        value ^= 1 << rng.randrange(64)
    return f"{value:016x}"


def _national(e164: str) -> str:
    return "0" + e164[3:] if e164.startswith("+44") else e164


def _advert(
    rng: random.Random, *, advert_id: str, source: str, observed: dt.datetime, title: str, body: str,
    phones: list[str], town: Town, stated_age: int | None, stated_nationality: str | None,
    image_hashes: list[str], language: str = "en",
) -> dict[str, Any]:
    posted = observed - dt.timedelta(minutes=rng.randrange(5, 600))
    return {
        "schema_version": 1,
        "advert_id": advert_id,
        "source": source,
        "observed_at": _iso(observed),
        "posted_at": _iso(posted) if rng.random() < 0.8 else None,
        "url": f"https://{source}.example/ad/{advert_id}",
        "title": title,
        "body": body,
        "phones": [render_phone(rng, p) for p in phones],
        "emails": [],
        "location": {
            "text": f"{town.name} city centre",
            "postcode": town.postcode(rng) if rng.random() < 0.3 else None,
            "town": town.name,
        },
        "stated_age": stated_age,
        "stated_nationality": stated_nationality,
        "image_hashes": image_hashes,
        "language": language,
    }


def _labour_referral(
    rng: random.Random, prefix: str, partner: str, when: dt.datetime, subjects: list[dict[str, Any]],
    place: dict[str, Any], narrative: str, *, child: bool = False,
) -> tuple[str, dict[str, Any]]:
    """An outreach charity's labour-exploitation referral, with consent: its key and value."""
    referral = {
        "schema_version": 1,
        "referral_id": f"{prefix}-{rng.randrange(10**6):06d}",
        "partner_id": partner,
        "submitted_at": _iso(when),
        "exploitation_types": ["labour"],
        "subjects": subjects,
        "locations": [place],
        "narrative": narrative,
        "language": "en",
        "urgency": "standard",
        "consent_to_share": True,
        "subject_is_child": child,
    }
    return f"{partner}:{referral['referral_id']}", referral


def _split(total: int, fixed: int, name: str) -> int:
    if total < fixed + 10:
        raise ValueError(f"scenario {name} needs --events of at least {fixed + 10}")
    return total - fixed


# -- headdress -------------------------------------------------------------------------


def headdress(seed: int, events: int) -> Scenario:
    """Hungarian women advertised across West Midlands towns by a family-run group."""
    rng = SimRandom(f"{seed}:headdress")
    people = PersonFactory(rng, block=1)
    span_days = max(42, events // 12)
    n_adverts = _split(events, 3, "headdress")
    today = START.date()

    clan = rng.choice(["Horváth", "Lakatos", "Oláh", "Balogh"])
    controllers = [
        people.person("HD", "HU", "male", (34, 50), today, family_name=clan, phones=2),
        people.person("HD", "HU", "male", (28, 40), today, family_name=clan),
        people.person("HD", "HU", "male", (25, 45), today),
    ]
    controller_phones = [p for c in controllers for p in c.phones]  # four numbers rotate across adverts
    n_women = min(12, max(5, n_adverts // 25))
    # Recruited through family and friends: sisters and cousins share family names and a home town.
    families = [rng.choice(FAMILY_NAMES["HU"]) for _ in range(max(2, n_women // 3))]
    women = [
        people.person("HD", "HU", "female", (19, 29), today, family_name=rng.choice(families + [None]))
        for _ in range(n_women)
    ]
    working_names = [
        "Bella", "Lili", "Vivi", "Niki", "Dora", "Kitti", "Anna", "Szandi", "Gina", "Reni", "Zsazsa", "Timi"
    ]
    hashes = {w.person_id: [f"{rng.getrandbits(64):016x}" for _ in range(3)] for w in women}
    names = {w.person_id: rng.choice([w.given_name, fold(w.given_name), working_names[i % len(working_names)]])
             for i, w in enumerate(women)}
    # Each woman moves round the circuit: a town for two to five days, then the next.
    circuits: dict[str, list[tuple[float, Town]]] = {}
    for woman in women:
        day, town, stays = 0.0, rng.choice(WEST_MIDLANDS), []
        while day < span_days:
            stays.append((day, town))
            day += rng.uniform(2, 5)
            town = rng.choice([t for t in WEST_MIDLANDS if t is not town])
        circuits[woman.person_id] = stays

    def town_of(woman: SimPerson, day: float) -> Town:
        current = circuits[woman.person_id][0][1]
        for start, town in circuits[woman.person_id]:
            if start > day:
                break
            current = town
        return current

    generated: list[SimEvent] = []
    for i in range(n_adverts):
        woman = rng.choice(women)
        day = rng.uniform(0, span_days)
        when = START + dt.timedelta(days=day)
        town = town_of(woman, day)
        phones = rng.sample(controller_phones, 2 if rng.random() < 0.15 else 1)
        age = woman.age_on(when.date())
        stated_age = max(18, age - rng.randrange(0, 4))
        title, body = text.network_advert(rng, names[woman.person_id], stated_age, town.name, _national(phones[0]))
        own_hashes = rng.sample(hashes[woman.person_id], rng.randint(1, 3))
        advert_id = f"{7_100_000 + i * 37}"
        source = rng.choice(ADVERT_SOURCES)
        value = _advert(
            rng, advert_id=advert_id, source=source, observed=when, title=title, body=body, phones=phones,
            town=town, stated_age=stated_age if rng.random() < 0.9 else None,
            stated_nationality=rng.choice(["HU", "HU", "HU", None, "CZ"]),
            image_hashes=[_flip_bits(rng, h, rng.randrange(3)) for h in own_hashes],
        )
        generated.append(
            SimEvent(TOPIC_ADVERTS, f"{source}:{advert_id}", value, when, [woman.person_id], "headdress",
                     "safeguarded", rng.randint(7, 30))
        )

    # The referral: debt bondage, from a third-sector partner, about one woman and her controller.
    victim, boss = women[0], controllers[0]
    when = START + dt.timedelta(days=span_days * 0.6)
    town = town_of(victim, span_days * 0.6)
    referral = {
        "schema_version": 1,
        "referral_id": f"REF-{rng.randrange(10**6):06d}",
        "partner_id": "midlands-outreach",
        "submitted_at": _iso(when),
        "exploitation_types": ["sexual"],
        "subjects": [
            _person_json(rng, victim, "potential_victim", when.date(), phones=[controller_phones[0]], variation=0.8),
            _person_json(rng, boss, "suspect", when.date(), phones=[controller_phones[1]], variation=0.9),
        ],
        "locations": [{"text": f"{town.name} drop-in centre", "postcode": town.postcode(rng), "town": town.name}],
        "narrative": text.debt_bondage_narrative(rng, town.name, rng.randrange(3, 12) * 1000),
        "language": "en",
        "urgency": "standard",
        "consent_to_share": True,
        "subject_is_child": False,
    }
    generated.append(
        SimEvent(TOPIC_REFERRALS, f"midlands-outreach:{referral['referral_id']}", referral, when,
                 [victim.person_id, boss.person_id], "headdress", "safeguarded", rng.randint(3, 14))
    )

    # Intelligence from two forces names the same controller.
    for force, grading, share in (("west-midlands", (2, "B", "P"), 0.45), ("staffordshire", (2, "C", "P"), 0.75)):
        when = START + dt.timedelta(days=span_days * share)
        report: dict[str, Any] = {
            "schema_version": 1,
            "intel_id": f"{force[:3].upper()}-INT-{rng.randrange(10**5):05d}",
            "force_code": force,
            "recorded_at": _iso(when),
            "source_evaluation": grading[0],
            "intelligence_assessment": grading[1],
            "handling_code": grading[2],
            "subjects": [
                _person_json(rng, boss, "suspect", when.date(), phones=rng.sample(boss.phones, 1), variation=0.9)
            ],
            "locations": [{"text": t.name, "postcode": None, "town": t.name} for t in rng.sample(WEST_MIDLANDS, 2)],
            "text": text.controller_intel(rng, [t.name for t in WEST_MIDLANDS]),
            "threat_tags": ["msht", "sexual_exploitation"],
        }
        generated.append(
            SimEvent(TOPIC_INTEL, report["intel_id"], report, when, [boss.person_id], "headdress", "arrest",
                     rng.randint(10, 40))
        )

    members = {c.person_id: "controller" for c in controllers} | {w.person_id: "victim" for w in women}
    network = Network("headdress", "ROCUWM", ["west-midlands", "staffordshire"], members)
    birmingham = WEST_MIDLANDS[0]
    boss.town, boss.postcode, boss.address = birmingham.name, birmingham.postcode(rng), "12 Church Lane, Birmingham"
    namesake = people.person("HD", "HU", "male", (20, 70), today, family_name=boss.family_name)
    namesake.given_name, namesake.town = boss.given_name, "Leeds"
    nominals = [
        NominalRecord("WMP-N-00041", boss, ["ocg_member"], "west-midlands", boss.phones[:1]),
        NominalRecord("WMP-N-00042", women[1], ["missing_person"], "west-midlands", []),
        # The same name as the controller, born another year, another number: must not merge.
        NominalRecord("WYP-N-00913", namesake, [], "west-yorkshire", namesake.phones),
    ]
    generated.sort(key=lambda e: e.event_time)
    return Scenario("headdress", iter(generated), [network], nominals)


# -- booker ---------------------------------------------------------------------------


def booker(seed: int, events: int) -> Scenario:
    """Romanian workers recruited with job offers and controlled in Northamptonshire."""
    rng = SimRandom(f"{seed}:booker")
    people = PersonFactory(rng, block=2)
    span_days = max(35, events // 8)
    n_adverts = _split(events, 3, "booker")
    today = START.date()

    clan = rng.choice(["Căpraru", "Ciobanu", "Lungu", "Sârbu"])
    gang = [
        people.person("BK", "RO", "male", (45, 58), today, family_name=clan, phones=2),
        people.person("BK", "RO", "male", (24, 35), today, family_name=clan),
        people.person("BK", "RO", "male", (22, 33), today, family_name=clan),
        people.person("BK", "RO", "male", (30, 45), today),
    ]
    leader = gang[0]
    gang_phones = leader.phones + gang[1].phones  # three numbers on every job offer
    n_workers = min(30, max(8, n_adverts // 6))
    workers = [
        people.person("BK", "RO", rng.choice(["male", "male", "male", "female"]), (19, 52), today, phones=1)
        for _ in range(n_workers)
    ]
    houses = [(town, _address(rng, town)) for town in rng.sample(NORTHAMPTONSHIRE, 3)]
    home = {w.person_id: houses[i % len(houses)] for i, w in enumerate(workers)}
    for w in workers:
        town, address = home[w.person_id]
        w.town, w.postcode, w.address = town.name, address["postcode"], f"{address['text']}, {town.name}"

    generated: list[SimEvent] = []
    recruiters = gang[:2]
    for i in range(n_adverts):
        recruiter = rng.choice(recruiters)
        when = START + dt.timedelta(days=rng.uniform(0, span_days))
        town = rng.choice(NORTHAMPTONSHIRE)
        title, body = text.recruitment_advert(rng, town.name)
        contact_name = rng.choice([recruiter.given_name, fold(recruiter.given_name), "Domnul " + recruiter.family_name])
        body += f" Contact: {contact_name}."
        advert_id = f"{5_200_000 + i * 41}"
        source = rng.choice(("jobs-board-ro", "community-marketplace"))
        value = _advert(
            rng, advert_id=advert_id, source=source, observed=when, title=title, body=body,
            phones=rng.sample(gang_phones, 1), town=town, stated_age=None, stated_nationality=None,
            image_hashes=[], language="ro",
        )
        value["location"]["text"] = f"{town.name}, Northamptonshire"
        generated.append(
            SimEvent(TOPIC_ADVERTS, f"{source}:{advert_id}", value, when, [recruiter.person_id], "booker",
                     "confirmed", rng.randint(7, 30))
        )

    # One partner referral: workers whose documents and phones were taken, and the leader.
    when = START + dt.timedelta(days=span_days * 0.55)
    referred = rng.sample(workers, min(4, len(workers)))
    town, house = home[referred[0].person_id]
    subjects = [
        _person_json(rng, w, "potential_victim", when.date(), phones=[], address=home[w.person_id][1], variation=0.6)
        for w in referred
    ]
    subjects.append(_person_json(rng, leader, "suspect", when.date(), phones=leader.phones[:1], variation=0.7))
    key, referral = _labour_referral(rng, "REF", "anchor-house-trust", when, subjects, house,
                                     text.labour_narrative(rng, town.name, n_workers))
    generated.append(
        SimEvent(TOPIC_REFERRALS, key, referral, when,
                 [w.person_id for w in referred] + [leader.person_id], "booker", "safeguarded", rng.randint(3, 14))
    )

    # Intelligence: Northamptonshire Police on the leader, a neighbouring force on his son.
    for force, subject, grading, share in (
        ("northamptonshire", leader, (1, "B", "P"), 0.4),
        ("leicestershire", gang[1], (2, "B", "P"), 0.7),
    ):
        when = START + dt.timedelta(days=span_days * share)
        town, house = rng.choice(houses)
        report: dict[str, Any] = {
            "schema_version": 1,
            "intel_id": f"{force[:3].upper()}-INT-{rng.randrange(10**5):05d}",
            "force_code": force,
            "recorded_at": _iso(when),
            "source_evaluation": grading[0],
            "intelligence_assessment": grading[1],
            "handling_code": grading[2],
            "subjects": [_person_json(rng, subject, "suspect", when.date(), variation=0.7)],
            "locations": [house],
            "text": text.gang_intel(rng, town.name),
            "threat_tags": ["msht", "labour_exploitation"],
        }
        generated.append(
            SimEvent(TOPIC_INTEL, report["intel_id"], report, when, [subject.person_id], "booker", "arrest",
                     rng.randint(10, 40))
        )

    members = {g.person_id: "controller" for g in gang} | {w.person_id: "victim" for w in workers}
    network = Network("booker", "EMSOU", ["northamptonshire", "leicestershire"], members)
    northampton = NORTHAMPTONSHIRE[0]
    leader.town, leader.postcode, leader.address = (
        northampton.name, northampton.postcode(rng), "4 Mill Street, Northampton"
    )
    namesake = people.person("BK", "RO", "male", (20, 70), today, family_name=leader.family_name)
    namesake.given_name = leader.given_name
    nominals = [
        NominalRecord("NHP-N-00310", leader, ["ocg_member"], "northamptonshire", leader.phones),
        NominalRecord("NHP-N-00311", workers[-1], ["known_victim"], "northamptonshire", []),
        NominalRecord("LCP-N-07781", namesake, [], "leicestershire", namesake.phones),
    ]
    generated.sort(key=lambda e: e.event_time)
    return Scenario("booker", iter(generated), [network], nominals)


# -- nail bars ------------------------------------------------------------------------------

NAIL_BAR_TOWNS = ("Leeds", "Sheffield", "Newcastle upon Tyne")


def nailbar(seed: int, events: int) -> Scenario:
    """Vietnamese workers in nail bars, recruited through job adverts on their controllers' phones.

    The workers never advertise and carry no phones of their own: they appear
    only in partner referrals and police intelligence, named beside the
    controllers. The shops are in two regions (YHROCU, NERSOU).
    """
    rng = SimRandom(f"{seed}:nailbar")
    people = PersonFactory(rng, block=4)
    span_days = max(35, events // 6)
    towns = {t.name: t for t in ALL_TOWNS}
    shops = [(towns[name], _address(rng, towns[name])) for name in NAIL_BAR_TOWNS]
    n_fixed = len(shops) + 2  # a referral per shop, two intelligence reports
    n_adverts = _split(events, n_fixed, "nailbar")
    today = START.date()
    owner = people.person("NB", "VN", "male", (38, 55), today, phones=2)
    partner_in_crime = people.person("NB", "VN", "female", (30, 45), today, family_name=owner.family_name)
    controllers = [owner, partner_in_crime]
    workers_per_shop = 4
    workers = [people.person("NB", "VN", rng.choice(["female", "female", "male"]), (18, 29), today, phones=0)
               for _ in range(workers_per_shop * len(shops))]
    # One of them is 16: the referral about that shop concerns a child.
    workers[0].date_of_birth = today - dt.timedelta(days=16 * 365 + rng.randrange(200))
    shop_of = {w.person_id: shops[i // workers_per_shop] for i, w in enumerate(workers)}
    for w in workers:
        town, address = shop_of[w.person_id]
        w.town, w.postcode, w.address = town.name, address["postcode"], f"{address['text']}, {town.name}"

    generated: list[SimEvent] = []
    for i in range(n_adverts):
        town, _address_of_shop = rng.choice(shops)
        when = START + dt.timedelta(days=rng.uniform(0, span_days))
        title, body = text.nail_recruitment_advert(rng, town.name)
        recruiter = rng.choice(controllers)
        body += f" Liên hệ {recruiter.given_name}."
        advert_id = f"{7_100_000 + i * 37}"
        source = rng.choice(("jobs-board-vn", "community-marketplace"))
        value = _advert(rng, advert_id=advert_id, source=source, observed=when, title=title, body=body,
                        phones=[rng.choice(recruiter.phones)], town=town, stated_age=None,
                        stated_nationality=None, image_hashes=[], language="vi")
        generated.append(SimEvent(TOPIC_ADVERTS, f"{source}:{advert_id}", value, when, [recruiter.person_id],
                                  "nailbar", "confirmed", rng.randint(7, 30)))

    # A referral per shop from an outreach charity: its four workers and the owner, who was there.
    for n, (town, shop) in enumerate(shops):
        when = START + dt.timedelta(days=span_days * (0.3 + 0.2 * n))
        staff = [w for w in workers if shop_of[w.person_id][0] is town]
        subjects = [_person_json(rng, w, "potential_victim", when.date(), phones=[], address=shop, variation=0.5)
                    for w in staff]
        subjects.append(_person_json(rng, owner, "suspect", when.date(), phones=owner.phones[:1], variation=0.6))
        key, referral = _labour_referral(rng, "NB-REF", "nail-salon-outreach", when, subjects, shop,
                                         text.nail_bar_narrative(rng, town.name, len(staff)),
                                         child=any(w is workers[0] for w in staff))
        generated.append(SimEvent(TOPIC_REFERRALS, key, referral, when,
                                  [w.person_id for w in staff] + [owner.person_id], "nailbar", "safeguarded",
                                  rng.randint(3, 14)))

    # Intelligence from the two forces: the controllers, and workers seen at a licensing visit.
    for force, (town, shop), subjects_of, share in (
        ("west-yorkshire", shops[0], [owner] + workers[1:3], 0.5),
        ("northumbria", shops[2], [partner_in_crime] + workers[9:11], 0.8),
    ):
        when = START + dt.timedelta(days=span_days * share)
        report: dict[str, Any] = {
            "schema_version": 1,
            "intel_id": f"{force[:3].upper()}-INT-{rng.randrange(10**5):05d}",
            "force_code": force,
            "recorded_at": _iso(when),
            "source_evaluation": 2,
            "intelligence_assessment": "B",
            "handling_code": "P",
            "subjects": [_person_json(rng, person, "suspect" if person in controllers else "potential_victim",
                                      when.date(), phones=person.phones[:1], address=shop, variation=0.5)
                         for person in subjects_of],
            "locations": [shop],
            "text": text.nail_bar_intel(rng, town.name),
            "threat_tags": ["msht", "labour_exploitation"],
        }
        generated.append(SimEvent(TOPIC_INTEL, report["intel_id"], report, when, [p.person_id for p in subjects_of],
                                  "nailbar", "arrest", rng.randint(10, 40)))

    members = {c.person_id: "controller" for c in controllers} | {w.person_id: "victim" for w in workers}
    network = Network("nailbar", "YHROCU", ["west-yorkshire", "south-yorkshire", "northumbria"], members)
    leeds = towns["Leeds"]
    owner.town, owner.postcode, owner.address = leeds.name, leeds.postcode(rng), "12 Harehills Lane, Leeds"
    nominals = [NominalRecord("WYP-N-01207", owner, ["ocg_member"], "west-yorkshire", owner.phones)]
    generated.sort(key=lambda e: e.event_time)
    return Scenario("nailbar", iter(generated), [network], nominals)


# -- background ----------------------------------------------------------------------------


def background(seed: int, events: int, span_days: int = 42) -> Scenario:
    """Unrelated adverts, referrals and intelligence across the country, in event-time order."""
    rng = SimRandom(f"{seed}:background")
    people = PersonFactory(rng, block=3)
    today = START.date()
    nationalities = ["GB", "GB", "GB", "PL", "RO", "HU"]
    n_advertisers = max(40, events // 12)
    advertisers = []
    for _ in range(n_advertisers):
        person = people.person("BG", rng.choice(nationalities), "female", (19, 45), today)
        person.town = rng.choice(ALL_TOWNS).name
        advertisers.append(person)
    towns = {t.name: t for t in ALL_TOWNS}
    # A few women work from hotels: the switchboard number appears in strangers' adverts.
    hotel_of = {a.person_id: rng.choice(HOTEL_SWITCHBOARDS) for a in rng.sample(advertisers, min(12, n_advertisers))}
    photos = {a.person_id: [f"{rng.getrandbits(64):016x}" for _ in range(2)] for a in advertisers}
    nominal_people = [
        people.person("BG", rng.choice(nationalities), rng.choice(["male", "female"]), (18, 70), today)
        for _ in range(max(20, events // 100))
    ]
    homes: list[Town] = []
    for person in nominal_people:
        town = rng.choice(ALL_TOWNS)
        person.town, person.postcode, person.address = town.name, town.postcode(rng), _address(rng, town)["text"]
        homes.append(town)
    nominals = [
        NominalRecord(f"{home.force_code[:3].upper()}-N-{i:05d}", p,
                      rng.choice([[], [], ["visor_registered"], ["missing_person"]]), home.force_code,
                      p.phones)
        for i, (p, home) in enumerate(zip(nominal_people, homes, strict=True), start=50_000)
    ]

    def stream() -> Iterator[SimEvent]:
        step = span_days * 86_400 / max(1, events)
        for i in range(events):
            when = START + dt.timedelta(seconds=int(i * step + rng.random() * step))
            roll = rng.random()
            if roll < 0.7:
                yield _background_advert(rng, i, when, advertisers, hotel_of, photos, towns)
            elif roll < 0.85:
                yield _background_referral(rng, i, when, people, nominal_people)
            else:
                yield _background_intel(rng, i, when, people, nominal_people)

    return Scenario("background", stream(), [], nominals)


def _background_advert(
    rng: random.Random, i: int, when: dt.datetime, advertisers: list[SimPerson], hotel_of: dict[str, str],
    photos: dict[str, list[str]], towns: dict[str, Town],
) -> SimEvent:
    source = rng.choice(ADVERT_SOURCES)
    advert_id = f"{9_000_000 + i}"
    if rng.random() < 0.1:  # ordinary job adverts
        town = rng.choice(ALL_TOWNS)
        title, body = text.ordinary_job_advert(rng, town.name)
        value = _advert(rng, advert_id=advert_id, source="jobs-board-uk", observed=when, title=title, body=body,
                        phones=[], town=town, stated_age=None, stated_nationality=None, image_hashes=[])
        # Each job advert is a different employer's: its mention is a person of its own.
        return SimEvent(TOPIC_ADVERTS, f"jobs-board-uk:{advert_id}", value, when, [f"BG-JOB-{i:07d}"], None,
                        "not_relevant", rng.randint(7, 30))
    person = rng.choice(advertisers)
    town = towns[person.town or "Leeds"]
    phones = [hotel_of[person.person_id]] if person.person_id in hotel_of and rng.random() < 0.7 else person.phones
    age = person.age_on(when.date())
    title, body = text.background_advert(rng, person.given_name, age, town.name, _national(phones[0]))
    value = _advert(
        rng, advert_id=advert_id, source=source, observed=when, title=title, body=body, phones=phones, town=town,
        stated_age=age if rng.random() < 0.8 else None,
        stated_nationality=person.nationality if rng.random() < 0.5 else None,
        image_hashes=photos[person.person_id][: rng.randint(0, 2)],
    )
    return SimEvent(TOPIC_ADVERTS, f"{source}:{advert_id}", value, when, [person.person_id], None,
                    "not_relevant", rng.randint(7, 30))


def _background_subjects(
    rng: random.Random, when: dt.datetime, people: PersonFactory, known: list[SimPerson], role: str
) -> tuple[list[dict[str, Any]], list[str]]:
    subjects, ids = [], []
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.3:
            person = rng.choice(known)  # some background subjects are people the force holds
        else:
            person = people.person("BG", rng.choice(["GB", "GB", "PL", "RO", "HU"]), rng.choice(["male", "female"]),
                                   (18, 70), when.date())
        town = rng.choice(ALL_TOWNS)
        subjects.append(_person_json(rng, person, role, when.date(), address=_address(rng, town), variation=0.4))
        ids.append(person.person_id)
    return subjects, ids


def _background_referral(
    rng: random.Random, i: int, when: dt.datetime, people: PersonFactory, known: list[SimPerson]
) -> SimEvent:
    subjects, ids = _background_subjects(rng, when, people, known, "potential_victim")
    town = rng.choice(ALL_TOWNS)
    partner = rng.choice(["citizens-advice-north", "womens-aid-south", "youth-outreach-east", "housing-first-wales"])
    referral = {
        "schema_version": 1,
        "referral_id": f"BG-REF-{i:07d}",
        "partner_id": partner,
        "submitted_at": _iso(when),
        "exploitation_types": [rng.choice(["domestic_abuse", "other", "unknown", "labour"])],
        "subjects": subjects,
        "locations": [{"text": town.name, "postcode": town.postcode(rng), "town": town.name}],
        "narrative": rng.choice(text.BACKGROUND_NARRATIVES),
        "language": "en",
        "urgency": "standard",
        "consent_to_share": True,
        "subject_is_child": False,
    }
    return SimEvent(TOPIC_REFERRALS, f"{partner}:{referral['referral_id']}", referral, when, ids, None,
                    "not_relevant", rng.randint(3, 14))


def _background_intel(
    rng: random.Random, i: int, when: dt.datetime, people: PersonFactory, known: list[SimPerson]
) -> SimEvent:
    subjects, ids = _background_subjects(rng, when, people, known, "suspect")
    town = rng.choice(ALL_TOWNS)
    report: dict[str, Any] = {
        "schema_version": 1,
        "intel_id": f"BG-INT-{i:07d}",
        "force_code": town.force_code,
        "recorded_at": _iso(when),
        "source_evaluation": rng.choice([1, 2, 2, 3]),
        "intelligence_assessment": rng.choice(["A", "B", "C", "C", "D", "E"]),
        "handling_code": rng.choice(["P", "P", "C"]),
        "subjects": subjects,
        "locations": [{"text": town.name, "postcode": None, "town": town.name}],
        "text": rng.choice(text.BACKGROUND_INTEL),
        "threat_tags": [],
    }
    return SimEvent(TOPIC_INTEL, report["intel_id"], report, when, ids, None, "not_relevant", rng.randint(10, 40))


# -- composition --------------------------------------------------------------------------


def mixed(seed: int, events: int) -> Scenario:
    """The networks and the background together, interleaved in time."""
    n_headdress = max(60, events // 10)
    n_booker = max(40, events // 20)
    n_nailbar = max(40, events // 50)
    n_background = events - n_headdress - n_booker - n_nailbar
    if n_background < 10:
        raise ValueError(f"scenario mixed needs --events of at least {n_headdress + n_booker + n_nailbar + 10}")
    parts = [headdress(seed, n_headdress), booker(seed, n_booker), nailbar(seed, n_nailbar),
             background(seed, n_background)]
    return Scenario(
        "mixed",
        heapq.merge(*(p.events for p in parts), key=lambda e: e.event_time),
        [n for p in parts for n in p.networks],
        [r for p in parts for r in p.nominals],
    )


SCENARIOS = {"headdress": headdress, "booker": booker, "nailbar": nailbar, "background": background, "mixed": mixed}
DEFAULT_EVENTS = {"headdress": 300, "booker": 150, "nailbar": 60, "background": 2000, "mixed": 3000}


def arrival_order(rng: random.Random, events: Iterable[SimEvent]) -> Iterator[SimEvent]:
    """Delay each event by a feed latency (minutes to two days), and yield them as they arrive.

    Events come in event-time order; since no delay exceeds ``MAX_FEED_DELAY``,
    an event whose arrival precedes the next event's time can be released, so
    memory holds only two days of stream.
    """
    pending: list[tuple[dt.datetime, int, SimEvent]] = []
    for seq, event in enumerate(events):
        while pending and pending[0][0] <= event.event_time:
            yield heapq.heappop(pending)[2]
        delay = min(MAX_FEED_DELAY, dt.timedelta(minutes=rng.expovariate(1 / 180)))
        if rng.random() < 0.03:  # a feed that was down catches up a day or two late
            delay = dt.timedelta(hours=rng.uniform(24, 48))
        event.arrival = event.event_time + delay
        heapq.heappush(pending, (event.arrival, seq, event))
    while pending:
        yield heapq.heappop(pending)[2]
