"""The regional teams' dashboard over a full database: the queue and an alert's page, timed over HTTP. Prints JSON.

    python benchmarks/dashboard.py [--alerts 100000] [--requests 200] [--seed 1] [--keep]
                                   [--looks-since-analyze 0]
                                   [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The issue's target: with 100,000 alerts in PostgreSQL, the queue and an alert
page answer in under 200 ms at p95.

It starts a throwaway PostgreSQL server from the distribution's binaries as the
tests do (:class:`tests.store_fixtures.ThrowawayPostgres`; ``--server-url``
uses a running server instead, whose user may create databases), makes an
empty database, migrates it and loads it in bulk, in batches (progress on
stderr):

- ``--alerts`` alerts over every region (the ROCU regions in rough proportion
  to their forces, a few UNKNOWN), rows exactly as ``Outbox.save_alert`` writes
  them (the first goes through ``save_alert`` and the bulk rows are checked
  against it): mostly low and medium bands, few critical; most closed, the
  recent ones often open or acknowledged; 2 to 30 events and 2 to 15 members
  each, the fewer the more often;
- a match decision for every mention of every event (1 to 5, about 3 an event)
  as the worker records it: the event, its input position, time, role and
  facts, the weights, prior and candidates;
- a nominal record for every member (``upsert_nominals``), forces' and provisional;
- the s.62 log's entries of each alert's handling and of the looks it had
  (``SqlAuditTrail``), the views those looks left, its deliveries to channels
  and a few comments; a few analysts and a supervisor per region, and the
  two users the requests sign in as: an EMSOU analyst (some EMSOU alerts are
  theirs) and a national one (new: no alert is theirs, nor looked at);
- then ``VACUUM ANALYZE`` and a checkpoint, as autovacuum would leave it;
- then, with ``--looks-since-analyze N``, N earlier looks of each of the two
  users (consultations and views): work the statistics do not know of yet.

Then it serves the real dashboard in a subprocess on a TCP port, built as
``toex-stream dashboard serve`` builds it (``build_dashboard_app`` over
``SqlCaseFiles``, the lifecycle and the s.62 log) but without Kafka (an
event's text comes from a fixed advert; no page timed here reads one), signs
in over HTTP as each of the two users, and times them working down the queue,
one request at a time: the queue, the critical ones, an alert opened, and
again, ``--requests`` rounds after five of warm-up (so each queue joins the
looks the user has made so far):

- ``queue``: ``GET /`` with the default filters (active alerts, critical first);
- ``queue_critical``: ``GET /?band=critical``;
- ``alert``: ``GET /alerts/{id}``, a different alert of the user's regions
  each round: the full case file, after the first look asked why and the
  reason was given; its consultation, written to the s.62 log, is part of the page;
- ``give_reason``: that ``POST /alerts/{id}/reason`` (it opens and logs the
  case file too, then redirects to the page).

A time runs from the request sent to the last byte of the answer read, in ms:
count, p50, p95, p99 and max, and whether p95 is under the target.
``target_met`` is the queue, the filtered queue and the alert page of both
users. The server and its data are removed at the end, on Ctrl-C too, unless
``--keep``. It exits 0 whether the target is met or not; 2 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, get_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, insert, select, text, update

from tests.conftest import free_port
from tests.store_fixtures import PostgresUnavailable, ThrowawayPostgres, create_database, drop_database
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import SqlAuditTrail
from toex_stream.adapters.sql.casework import SqlCaseFiles
from toex_stream.adapters.sql.casework_models import AlertCommentRow, AlertViewRow
from toex_stream.adapters.sql.models import MatchDecisionRow
from toex_stream.adapters.sql.outbox import _SITUATION, Outbox  # _SITUATION: the situation columns save_alert keeps
from toex_stream.adapters.sql.outbox_models import AlertRow, AuditRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.adapters.sql.users import Users
from toex_stream.application.alert_lifecycle import AlertLifecycle
from toex_stream.application.casework import Casework
from toex_stream.domain import contract
from toex_stream.domain.access import NATIONAL, REGIONS, Role
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.clock import utc_now
from toex_stream.domain.geo import FORCE_REGIONS
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.ports.store import Provenance

TARGET_P95_MS = 200.0
TIMED_KINDS = ("queue", "queue_critical", "alert")  # what the target is about
KINDS = (*TIMED_KINDS, "give_reason")
BATCH = 1000  # alerts a batch: a transaction of rows each, and a progress line every ten
WARMUP = 5
PASSWORD = "a benchmark's own long password"
REASON = "benchmark: weekly review of the region's alerts"
# What each page is known by: the queue's table, the case file's people, the question asked first, a form.
QUEUE_MARK, ALERT_MARK, REASON_MARK = 'class="queue"', 'id="people-title"', "Why do you open"
FORM_MARK = 'name="csrf_token"'
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# -- what the alerts look like -----------------------------------------------------------------

DAYS = 730  # alerts are kept two years; the newest were raised in the last days
RECENT_DAYS = 60  # younger than this, an alert is often still being worked
BAND_SHARE = {"low": 0.50, "medium": 0.33, "high": 0.14, "critical": 0.03}
ACTIVE_SHARE_RECENT, ACTIVE_SHARE_OLDER = 0.65, 0.10  # about 15% of all alerts open or acknowledged
OUTCOME_SHARE = {"not_relevant": 0.45, "confirmed": 0.25, "safeguarded": 0.12, "duplicate": 0.10, "arrest": 0.08}
REGION_SHARE = {  # by population, roughly; UNKNOWN when no place resolved
    "LONDON": 0.16, "NWROCU": 0.13, "ERSOU": 0.13, "SEROCU": 0.10, "ROCUWM": 0.10, "YHROCU": 0.10,
    "SWROCU": 0.10, "EMSOU": 0.08, "NERSOU": 0.05, "TARIAN": 0.04, "UNKNOWN": 0.01,
}
THREAT_SHARE = {"msht": 0.45, "cse": 0.20, "vawg": 0.20, "missing": 0.15}
TOPIC_SHARE = {contract.TOPIC_REFERRALS: 0.40, contract.TOPIC_ADVERTS: 0.40, contract.TOPIC_INTEL: 0.20}
MENTIONS_SHARE = {1: 0.15, 2: 0.25, 3: 0.30, 4: 0.20, 5: 0.10}  # people an event mentions: about 3
MODEL_VERSION = "fs-2026.11-7c41d2"
PRIOR_WEIGHT = -9.21
PARTNERS = ("anchor-house-trust", "unseen-uk", "salvation-army", "barnardos")
BOARDS = ("vivastreet", "adultwork", "gumtree")
FIELDS = (("given_name", "exact", 6.4), ("family_name", "exact", 7.4), ("date_of_birth", "exact", 12.9),
          ("phone", "exact", 14.2), ("email", "exact", 15.1), ("given_name", "jaro_winkler_0.92", 3.1),
          ("family_name", "jaro_winkler_0.80", 1.9), ("date_of_birth", "one_part_differs", 4.2),
          ("nationality", "exact", 1.2), ("gender", "differs", -3.5), ("date_of_birth", "differs", -8.1))
REASONS = (("ocg_member", "a known OCG member"), ("shared_phone", "a phone shared with another nominal"),
           ("newness_touring", "adverts suggest touring"), ("immediate_risk", "a referral of immediate risk"),
           ("subject_is_child", "a child is named"), ("missing_flag", "a person flagged missing"),
           ("third_party_control", "someone else arranges the bookings"), ("many_victims", "several possible victims"))
GIVEN = ("Ion", "Maria", "Andrei", "Elena", "Arben", "Besa", "Thi", "Van", "Daniel", "Sarah", "Piotr", "Anna",
         "Gabor", "Eszter", "James", "Chloe", "Mihai", "Ioana", "Dritan", "Linh", "Tomasz", "Kasia", "Adebayo")
FAMILY = ("Lungu", "Pop", "Popescu", "Hoxha", "Krasniqi", "Nguyen", "Tran", "Smith", "Jones", "Kowalski",
          "Nowak", "Horvath", "Nagy", "Taylor", "Brown", "Ionescu", "Berisha", "Pham", "Okafor", "Wilson")
NATIONALITIES = ("GB", "RO", "AL", "VN", "PL", "HU", "NG", "SK", "LT", "ER")


Choice = TypeVar("Choice")


def pick(rng: random.Random, shares: dict[Choice, float]) -> Choice:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def skewed(rng: random.Random, low: int, high: int, mean_above_low: float) -> int:
    """A count from low to high, small ones the most often (exponential above ``low``, cut at ``high``)."""
    return min(high, low + int(rng.expovariate(1 / mean_above_low)))


@dataclass
class Staff:
    """Who works the alerts of each region (UNKNOWN's: national analysts), and the benchmark's regional analyst,
    who has alerts of their own but has looked at no other."""

    by_region: dict[str, list[str]]
    regional_user: str
    regional_scope: str

    @classmethod
    def made(cls, regional_user: str, regional_scope: str) -> Staff:
        by_region = {region: [f"{region.lower()}-analyst-{n}" for n in (1, 2, 3)] + [f"{region.lower()}-supervisor"]
                     for region in REGIONS if region != "UNKNOWN"}
        by_region["UNKNOWN"] = ["national-analyst-1", "national-analyst-2"]
        return cls(by_region, regional_user, regional_scope)

    def assignees(self, region: str) -> list[str]:
        return self.by_region[region] + ([self.regional_user] if region == self.regional_scope else [])


@dataclass
class Situation:
    """One alert and everything stored about it, as rows or as what the stores take."""

    alert: contract.Alert
    updated_at: dt.datetime
    assignee: str | None
    outcome: str | None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    nominals: list[tuple[contract.Nominal, Provenance]] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)

    def alert_row(self) -> dict[str, Any]:
        """The alerts row, column for column as ``Outbox.save_alert`` writes it, with its lifecycle."""
        alert = self.alert
        return {
            "alert_id": alert.alert_id, "created_at": alert.created_at, "status": alert.status,
            "region": alert.region, "force_code": alert.force_code, "threat": alert.threat, "band": alert.band,
            "risk_score": alert.risk_score, "nominal_ids": list(alert.nominal_ids),
            "event_refs": [ref.model_dump() for ref in alert.event_refs],
            "reasons": [reason.model_dump() for reason in alert.reasons], "model_version": alert.model_version,
            "situation_id": alert.situation_id,
            "situation": alert.model_dump(mode="json", include=_SITUATION) if alert.situation_id else None,
            "updated_at": self.updated_at, "assignee": self.assignee, "outcome": self.outcome,
        }


class Synthesis:
    """Alerts as the worker and the regional teams leave them, one situation at a time, from a seed.

    Alert ``index`` of ``count`` was raised at its share of the last two years (the last one now), so that
    the s.62 log, written in batches in that order, runs roughly forwards in time.
    """

    def __init__(self, rng: random.Random, count: int, now: dt.datetime, staff: Staff) -> None:
        self._rng = rng
        self._count = count
        self._now = now
        self._staff = staff
        self._forces: dict[str, list[str]] = defaultdict(list)
        for force, region in sorted(FORCE_REGIONS.items()):
            self._forces[region].append(force)
        self._offsets: Counter[str] = Counter()  # each input topic's next offset
        self._line = 1  # the nominals file's next line
        self._facts = {topic: [self._event_facts(topic) for _ in range(40)] for topic in TOPIC_SHARE}
        self._threats = [t for t in THREAT_SHARE if t in load_profiles()]

    def situation(self, index: int) -> Situation:
        rng, now = self._rng, self._now
        created = now - dt.timedelta(days=DAYS) + dt.timedelta(days=DAYS) * ((index + rng.random()) / self._count)
        created = min(created, now - dt.timedelta(minutes=1))
        region = pick(rng, REGION_SHARE)
        force = rng.choice(self._forces[region]) if region != "UNKNOWN" else None
        band = pick(rng, BAND_SHARE)
        threats = rng.sample(self._threats, 1 if rng.random() < 0.7 else 2)
        bands = {threats[0]: band} | {t: rng.choice(list(BAND_SHARE)[:list(BAND_SHARE).index(band) + 1])
                                      for t in threats[1:]}
        members = self._members(rng, skewed(rng, 2, 15, 3.0), force)
        events = [self._event_ref(rng, index, n) for n in range(skewed(rng, 2, 30, 6.0))]
        alert_id = f"alert-{rng.getrandbits(80):020x}"

        recent = now - created < dt.timedelta(days=RECENT_DAYS)
        active = rng.random() < (ACTIVE_SHARE_RECENT if recent else ACTIVE_SHARE_OLDER)
        status = ("open" if rng.random() < 0.65 else "acknowledged") if active else "closed"
        assignee = rng.choice(self._staff.assignees(region)) if status != "open" else None
        outcome = pick(rng, OUTCOME_SHARE) if status == "closed" else None
        acknowledged_at = min(now, created + dt.timedelta(minutes=rng.uniform(5, 3 * 24 * 60)))
        changed_at = {"open": min(now, created + dt.timedelta(hours=rng.uniform(0, 48))),
                      "acknowledged": acknowledged_at,
                      "closed": min(now, acknowledged_at + dt.timedelta(days=rng.uniform(0.1, 30)))}[status]

        alert = contract.Alert(
            schema_version=1, alert_id=alert_id, created_at=created, region=region, force_code=force,  # type: ignore[arg-type]
            threat=threats[0], band=band, risk_score=self._risk(rng, band),  # type: ignore[arg-type]
            nominal_ids=[m.nominal_id for m in members], event_refs=events,
            reasons=[contract.Reason(feature=feature, contribution=round(rng.uniform(0.3, 2.5), 2), text=why)
                     for feature, why in rng.sample(REASONS, rng.randint(2, 5))],
            model_version=f"{threats[0]}@v3/l2", status=status, situation_id=f"sit-{alert_id[6:]}",  # type: ignore[arg-type]
            threats=threats, bands=bands, members=members, version=1 + (len(events) - 2) // 4,  # type: ignore[arg-type]
        )
        found = Situation(alert, changed_at, assignee, outcome)
        self._decisions_and_nominals(rng, found, created)
        self._handling(rng, found, acknowledged_at)
        return found

    # -- the alert's parts -------------------------------------------------------------------

    @staticmethod
    def _risk(rng: random.Random, band: str) -> float:
        low, high = {"low": (0.2, 0.5), "medium": (0.5, 0.7), "high": (0.7, 0.9), "critical": (0.9, 1.0)}[band]
        return round(rng.uniform(low, high), 3)

    @staticmethod
    def _members(rng: random.Random, count: int, force: str | None) -> list[contract.AlertMember]:
        """Controllers in the middle, possible victims and others around them, linked as a tree and a few more."""
        controllers = 2 if count >= 8 and rng.random() < 0.5 else 1
        victims = round((count - controllers) * rng.uniform(0.3, 0.8))
        roles = ["suspected_controller"] * controllers + ["possible_victim"] * victims
        roles += ["unknown"] * (count - len(roles))
        prefix = (force or "nat")[:3].upper()
        ids = []
        for role in roles:
            provisional = rng.random() < {"suspected_controller": 0.1, "possible_victim": 0.6}.get(role, 0.7)
            ids.append(f"prov-{rng.getrandbits(64):016x}" if provisional else f"{prefix}-N-{rng.getrandbits(48):012x}")
        links: dict[int, list[str]] = defaultdict(list)
        pairs = [(n, rng.randrange(n)) for n in range(1, count)]
        for _ in range(count // 3):
            a, b = rng.sample(range(count), 2)
            pairs.append((a, b))
        for a, b in pairs:
            kinds = "named together" if rng.random() < 0.7 else "named together, shared phone"
            events = rng.randint(1, 6)
            for one, other in ((a, b), (b, a)):
                if len(links[one]) < 5:  # as the situation step keeps them (MAX_LINKED_BY)
                    links[one].append(f"{kinds} with {ids[other]} ({events} events)")
        order = {"suspected_controller": 0, "possible_victim": 1, "unknown": 2}
        members = [contract.AlertMember(nominal_id=ids[n], role=roles[n], provisional=ids[n].startswith("prov-"),  # type: ignore[arg-type]
                                        linked_by=links[n]) for n in range(count)]
        return sorted(members, key=lambda m: (order[m.role], m.nominal_id))

    def _event_ref(self, rng: random.Random, index: int, n: int) -> contract.EventRef:
        topic = pick(rng, TOPIC_SHARE)
        if topic == contract.TOPIC_REFERRALS:
            key = f"{rng.choice(PARTNERS)}:R-{index}-{n}"
        elif topic == contract.TOPIC_ADVERTS:
            key = f"{rng.choice(BOARDS)}:{rng.getrandbits(40):010x}"
        else:
            key = f"INT-{index}-{n}"
        return contract.EventRef(topic=topic, key=key)

    def _event_facts(self, topic: str) -> dict[str, Any]:
        rng = self._rng
        exploitation = rng.sample(["labour", "sexual", "criminal", "domestic_servitude"], rng.randint(1, 2))
        if topic == contract.TOPIC_REFERRALS:
            facts = contract.EventFacts(exploitation_types=exploitation,  # type: ignore[arg-type]
                                        urgency="immediate_risk" if rng.random() < 0.2 else "standard",
                                        subject_is_child=rng.random() < 0.1, towns=["Leicester"])
        elif topic == contract.TOPIC_ADVERTS:
            facts = contract.EventFacts(indicator_weights={"newness_touring": round(rng.uniform(0.2, 1.5), 2),
                                                           "third_party": round(rng.uniform(0, 1.2), 2)},
                                        lexicon_version=4, towns=["Nottingham"])
        else:
            facts = contract.EventFacts(exploitation_types=exploitation,  # type: ignore[arg-type]
                                        source_evaluation=rng.choice([1, 2, 3]),
                                        intelligence_assessment=rng.choice(list("ABCDE")),  # type: ignore[arg-type]
                                        handling_code="P")
        return facts.model_dump(mode="json")

    def _decisions_and_nominals(self, rng: random.Random, found: Situation, created: dt.datetime) -> None:
        """A decision for each mention of each event (every member named at least once), and each member's
        nominal record: a force's, or the provisional one its first mention made."""
        alert = found.alert
        roles = {m.nominal_id: m.role for m in alert.members}
        unnamed = [m.nominal_id for m in alert.members]
        rng.shuffle(unnamed)
        first_mention: dict[str, tuple[str, dt.datetime]] = {}
        for ref in alert.event_refs:
            event = f"{ref.topic}:{ref.key}"
            occurred = min(self._now, created + dt.timedelta(hours=rng.uniform(-30 * 24, 10 * 24)))
            partition = rng.randrange(6)
            self._offsets[ref.topic] += 1
            facts = rng.choice(self._facts[ref.topic])
            for position in range(pick(rng, MENTIONS_SHARE)):
                nominal_id = unnamed.pop() if unnamed else rng.choice(alert.nominal_ids)
                mention_id = f"{event}#{position}"
                if nominal_id.startswith("prov-") and nominal_id not in first_mention:
                    kind, probability, weights = "new", 0.0, []
                else:
                    kind = "match" if rng.random() < 0.85 else "possible_match"
                    probability = rng.uniform(0.95, 0.9999) if kind == "match" else rng.uniform(0.5, 0.9)
                    weights = [{"field": f, "level": level, "weight": round(w * rng.uniform(0.9, 1.1), 3),
                                "tf_adjusted": f in ("given_name", "family_name")}
                               for f, level, w in rng.sample(FIELDS, rng.randint(3, 7))]
                first_mention.setdefault(nominal_id, (mention_id, occurred))
                found.decisions.append({
                    "mention_id": mention_id, "nominal_id": nominal_id, "decision": kind,
                    "probability": round(probability, 4), "weights": weights, "model_version": MODEL_VERSION,
                    "decided_at": occurred + dt.timedelta(seconds=rng.uniform(1, 30)), "event": event,
                    "source_partition": partition, "source_offset": self._offsets[ref.topic], "occurred_at": occurred,
                    "role": {"suspected_controller": "suspect", "possible_victim": "potential_victim"}.get(
                        roles[nominal_id], rng.choice(["unknown", "witness", "other"])),
                    "facts": facts, "prior_weight": PRIOR_WEIGHT,
                    "candidates": 0 if kind == "new" else rng.randint(1, 12),
                })
        for member in alert.members:
            mention_id, seen = first_mention.get(member.nominal_id, (f"{alert.alert_id}#?", created))
            found.nominals.append(self._nominal(rng, member, alert.force_code, mention_id, seen))

    def _nominal(self, rng: random.Random, member: contract.AlertMember, force: str | None, mention_id: str,
                 seen: dt.datetime) -> tuple[contract.Nominal, Provenance]:
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        phones = [f"+447700900{rng.randrange(1000):03d}" for _ in range(rng.choice([0, 1, 1, 2]))]
        if member.provisional:
            nominal = contract.Nominal(
                schema_version=1, nominal_id=member.nominal_id, given_name=given if rng.random() < 0.7 else None,
                family_name=family if rng.random() < 0.5 else None, phones=phones[:1], flags=["provisional"],
                updated_at=seen)
            return nominal, Provenance("event", mention_id, seen)
        flags = ["ocg_member"] if member.role == "suspected_controller" and rng.random() < 0.4 else []
        flags += ["missing"] if member.role == "possible_victim" and rng.random() < 0.15 else []
        updated = seen - dt.timedelta(days=rng.uniform(1, 400))
        nominal = contract.Nominal(
            schema_version=1, nominal_id=member.nominal_id, given_name=given, family_name=family,
            aliases=[f"{rng.choice(GIVEN)} {family}" for _ in range(rng.choice([0, 0, 1, 2]))],
            date_of_birth=dt.date(rng.randint(1960, 2008), rng.randint(1, 12), rng.randint(1, 28)),
            gender=rng.choice(["female", "male"]), nationality=rng.choice(NATIONALITIES), phones=phones,
            emails=[f"{given}.{family}{rng.randrange(100)}@example.com".lower()] if rng.random() < 0.3 else [],
            flags=flags, owning_force=force, updated_at=updated)
        self._line += 1
        return nominal, Provenance("import", f"nominals.csv:{self._line}", updated)

    def _handling(self, rng: random.Random, found: Situation, acknowledged_at: dt.datetime) -> None:
        """What the region did with it: the s.62 log's entries, the views, deliveries to its channel, comments."""
        alert, who = found.alert, found.assignee
        channel, route = f"slack-{alert.region.lower()}", f"root/{alert.region}"
        size = f"{len(alert.members)} people, {len(alert.event_refs)} events"
        found.deliveries.append({"at": alert.created_at + dt.timedelta(seconds=rng.uniform(1, 40)),
                                 "alert_id": alert.alert_id, "receiver": channel, "route": route, "action": "posted",
                                 "what": f"first post: {alert.band} {alert.threat} alert, {size}"})
        for version in range(2, min(alert.version, 4) + 1):
            found.deliveries.append({"at": alert.created_at + dt.timedelta(hours=version * rng.uniform(1, 20)),
                                     "alert_id": alert.alert_id, "receiver": channel, "route": route,
                                     "action": "updated", "what": f"update: version {version}, {size}"})
        looks: list[tuple[str, str, dt.datetime]] = []
        if who is not None:
            found.audit.append(AuditRecord("alteration", "alert.acknowledged", who, alert.alert_id,
                                           "status acknowledged", "triage", at=acknowledged_at))
            looks += [(who, "assigned to me", acknowledged_at + dt.timedelta(minutes=m))
                      for m in sorted(rng.sample(range(1, 600), rng.randint(1, 3)))]
        if found.outcome is not None and who is not None:
            found.audit.append(AuditRecord("alteration", "alert.closed", who, alert.alert_id,
                                           f"closed: {found.outcome}; outcome published on toex.feedback",
                                           "reviewed with the team", at=found.updated_at))
        if rng.random() < 0.2:
            other = rng.choice(self._staff.by_region[alert.region])
            looks.append((other, "checking for a linked operation", alert.created_at + dt.timedelta(hours=2)))
        for user, reason, at in looks:
            at = min(at, self._now)
            found.audit.append(AuditRecord(
                "consultation", "alert.read", user, alert.alert_id,
                f"alert page: {len(alert.members)} people, {len(alert.event_refs)} events, match decisions and "
                f"history (version {alert.version})", reason, at=at))
        first_looks: dict[str, tuple[str, dt.datetime, dt.datetime]] = {}
        for user, reason, at in looks:
            first_reason, first_at, _ = first_looks.get(user, (reason, at, at))
            first_looks[user] = (first_reason, first_at, min(at, self._now))
        found.views += [{"user_name": user, "alert_id": alert.alert_id, "reason": reason,
                         "version_seen": alert.version, "events_seen": len(alert.event_refs),
                         "members_seen": len(alert.members), "first_at": first_at, "last_at": last_at}
                        for user, (reason, first_at, last_at) in first_looks.items()]
        if who is not None and rng.random() < 0.05:
            found.comments.append({"alert_id": alert.alert_id, "author": who, "at": acknowledged_at,
                                   "text": "Asked the force's MSHT lead whether this links to their operation."})


# -- loading ------------------------------------------------------------------------------------


class Indexed(NamedTuple):
    """What the requests need to know of an alert: whose it is, and its size for a look at it."""

    alert_id: str
    region: str
    assignee: str | None
    version: int
    events: int
    members: int


@dataclass
class Loaded:
    """What the database holds, and how long each part took to load."""

    alerts: int = 0
    per_region: Counter[str] = field(default_factory=Counter)
    bands: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    decisions: int = 0
    nominals: int = 0
    audit_entries: int = 0
    deliveries: int = 0
    views: int = 0
    comments: int = 0
    users: int = 0
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    index: list[Indexed] = field(default_factory=list)

    def count(self, found: Situation) -> None:
        alert = found.alert
        self.alerts += 1
        self.per_region[alert.region] += 1
        self.bands[alert.band] += 1
        self.statuses[alert.status] += 1
        self.decisions += len(found.decisions)
        self.nominals += len(found.nominals)
        self.audit_entries += len(found.audit)
        self.deliveries += len(found.deliveries)
        self.views += len(found.views)
        self.comments += len(found.comments)
        self.index.append(Indexed(alert.alert_id, alert.region, found.assignee, alert.version,
                                  len(alert.event_refs), len(alert.members)))


@contextlib.contextmanager
def timer(seconds: defaultdict[str, float], part: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[part] += time.perf_counter() - started


def progress(message: str) -> None:
    print(f"[dashboard benchmark] {message}", file=sys.stderr, flush=True)


def save_first_as_the_outbox_does(engine: Engine, found: Situation) -> None:
    """Store the first alert with ``Outbox.save_alert`` and check the bulk row made for it is the same row."""
    Outbox(engine).save_alert(found.alert, at=found.updated_at)
    row = found.alert_row()
    with engine.begin() as connection:
        connection.execute(update(AlertRow).where(AlertRow.alert_id == found.alert.alert_id)
                           .values(assignee=found.assignee, outcome=found.outcome))
        stored = connection.execute(select(AlertRow.__table__).where(AlertRow.alert_id == found.alert.alert_id)).one()
    differs = sorted(name for name, value in stored._mapping.items() if row[name] != value)
    if differs:
        raise SystemExit(f"the bulk alert rows differ from Outbox.save_alert's in {', '.join(differs)}: "
                         "update Situation.alert_row to write what save_alert writes")


def when(record: AuditRecord) -> dt.datetime:
    assert record.at is not None  # the synthesis dates every entry
    return record.at


def load(engine: Engine, audit_head: Path, count: int, rng: random.Random, staff: Staff) -> Loaded:
    """``count`` alerts and all that is stored about them, in batches of ``BATCH``; progress on stderr."""
    synthesis = Synthesis(rng, count, utc_now(), staff)
    store, trail = SqlAlchemyNominalStore(engine), SqlAuditTrail(engine, audit_head)
    loaded, started = Loaded(), time.perf_counter()
    for start in range(0, count, BATCH):
        with timer(loaded.seconds, "generate"):
            batch = [synthesis.situation(index) for index in range(start, min(count, start + BATCH))]
        if start == 0:
            save_first_as_the_outbox_does(engine, batch[0])
        with timer(loaded.seconds, "alerts_and_decisions"), engine.begin() as connection:
            rows = [found.alert_row() for found in batch[1:]] if start == 0 else [f.alert_row() for f in batch]
            connection.execute(insert(AlertRow), rows)
            connection.execute(insert(MatchDecisionRow), [row for found in batch for row in found.decisions])
            for table, part in ((AuditRow, "deliveries"), (AlertViewRow, "views"), (AlertCommentRow, "comments")):
                part_rows = [row for found in batch for row in getattr(found, part)]
                if part_rows:
                    connection.execute(insert(table), part_rows)
        with timer(loaded.seconds, "nominals"):
            store.upsert_nominals([entry for found in batch for entry in found.nominals])
        with timer(loaded.seconds, "audit"):
            trail.record(*sorted((record for found in batch for record in found.audit), key=when))
        for found in batch:
            loaded.count(found)
        if loaded.alerts % (10 * BATCH) == 0 or loaded.alerts == count:
            elapsed = time.perf_counter() - started
            progress(f"{loaded.alerts}/{count} alerts, {loaded.decisions} match decisions, {loaded.nominals} "
                     f"nominals, {loaded.audit_entries} s.62 entries in {elapsed:.0f} s "
                     f"({loaded.alerts / elapsed:.0f} alerts/s)")
    return loaded


def add_users(engine: Engine, staff: Staff, regional: tuple[str, str], national: str) -> int:
    """The region's staff (a fast hash: they never sign in here), and the two who do (argon2's defaults)."""
    fast = Users(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    added = 0
    for region, names in staff.by_region.items():
        for name in names:
            role: Role = "supervisor" if name.endswith("supervisor") else "analyst"
            fast.add(name, role, [NATIONAL] if region == "UNKNOWN" else [region], password=PASSWORD)
            added += 1
    users = Users(engine)
    users.add(regional[0], "analyst", [regional[1]], password=PASSWORD)
    users.add(national, "analyst", [NATIONAL], password=PASSWORD)
    return added + 2


def vacuum_analyze(engine: Engine) -> None:
    """As autovacuum leaves a database at rest; the checkpoint writes the load out before anything is timed."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))


def add_looks(engine: Engine, audit_head: Path, user: str, alerts: Sequence[Indexed], now: dt.datetime) -> None:
    """``user``'s looks at ``alerts`` in the last weeks, as the dashboard records them: a consultation in the
    s.62 log and a view each. Added after ANALYZE, the statistics do not know them."""
    if not alerts:
        return
    at = [now - dt.timedelta(days=28) * (n + 1) / (len(alerts) + 1) for n in range(len(alerts))][::-1]
    SqlAuditTrail(engine, audit_head).record(*(AuditRecord(
        "consultation", "alert.read", user, alert.alert_id, f"alert page: {alert.members} people, "
        f"{alert.events} events, match decisions and history (version {alert.version})", REASON, at=when)
        for alert, when in zip(alerts, at, strict=True)))
    with engine.begin() as connection:
        connection.execute(insert(AlertViewRow), [
            {"user_name": user, "alert_id": alert.alert_id, "reason": REASON, "version_seen": alert.version,
             "events_seen": alert.events, "members_seen": alert.members, "first_at": when, "last_at": when}
            for alert, when in zip(alerts, at, strict=True)])


# -- the dashboard, served ----------------------------------------------------------------------


class FixedAdvert:
    """The event reader: every event reads back as one advert (no page timed here asks for one)."""

    VALUE = json.dumps({"title": "New in town", "body": "Young and fresh girl, just arrived."}).encode()

    def read(self, topic: str, partition: int, offset: int) -> bytes | None:
        return self.VALUE


def serve(port: int, folder: Path) -> None:
    """The dashboard as ``toex-stream dashboard serve`` builds it, over TOEX_DATABASE_URL, without Kafka."""
    from aiohttp import web

    from toex_stream.entry.dashboard import build_dashboard_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(data_dir=folder, public_url=None)
    engine = build_engine(settings)
    audit = SqlAuditTrail(engine, settings.audit_head_path)
    lifecycle = AlertLifecycle(Outbox(engine), load_routes(), lambda key, feedback: None, audit=audit)
    casework = Casework(SqlCaseFiles(engine), lifecycle, audit, FixedAdvert())
    app = build_dashboard_app(settings, casework, Users(engine))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_dashboard(database_url: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    log = (folder / "dashboard.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-port", str(port), "--serve-folder", str(folder)],
        env={**os.environ, "TOEX_DATABASE_URL": database_url, "TOEX_DATA_DIR": str(folder)},
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_dashboard(process)
                raise BenchmarkError(f"the dashboard did not start: {tail(folder / 'dashboard.log')}") from None
            time.sleep(0.2)


def stop_dashboard(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


class BenchmarkError(Exception):
    """The benchmark could not measure what it promised: the message says what happened."""


# -- the requests -------------------------------------------------------------------------------


async def timed(session: aiohttp.ClientSession, method: str, path: str, mark: str, expect: int = 200,
                **options: Any) -> tuple[float, str]:
    """One request, its time in ms from sending it to the answer's last byte, and the answer."""
    started = time.perf_counter()
    async with session.request(method, path, allow_redirects=False, **options) as response:
        body = await response.text()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != expect or mark not in body:
        raise BenchmarkError(f"{method} {path} answered {response.status} (expected {expect} with {mark!r}): "
                             f"{body[:300]!r}")
    return elapsed, body


async def sign_in(session: aiohttp.ClientSession, name: str) -> str:
    """Sign in as a person would; the CSRF token of the session's forms."""
    _, form = await timed(session, "GET", "/signin", FORM_MARK)
    await timed(session, "POST", "/signin", "", expect=303,
                data={"name": name, "password": PASSWORD, "csrf_token": CSRF.search(form)[1]})  # type: ignore[index]
    _, queue = await timed(session, "GET", "/", QUEUE_MARK)
    return CSRF.search(queue)[1]  # type: ignore[index]



async def open_alert(session: aiohttp.ClientSession, csrf: str, alert_id: str) -> tuple[float, float]:
    """The first look (which asks why), the reason given, then the case file: the reason's and the page's times."""
    await timed(session, "GET", f"/alerts/{alert_id}", REASON_MARK)
    reason_ms, _ = await timed(session, "POST", f"/alerts/{alert_id}/reason", "", expect=303,
                               data={"reason": REASON, "csrf_token": csrf})
    page_ms, _ = await timed(session, "GET", f"/alerts/{alert_id}", ALERT_MARK)
    return reason_ms, page_ms


async def drive(base: str, name: str, alerts: Sequence[str]) -> dict[str, list[float]]:
    """One user working down the queue, one request at a time: the queue, the critical ones, then an alert
    opened (the first look, the reason, the page), and again, for each of ``alerts``. The first ``WARMUP``
    rounds are not timed. Each alert opened is a look the next queue joins."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    # The cookies of a server addressed by IP address are kept only by an "unsafe" jar (as aiohttp's tests do).
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        csrf = await sign_in(session, name)
        for round_, alert_id in enumerate(alerts):
            queue_ms, _ = await timed(session, "GET", "/", QUEUE_MARK)
            critical_ms, _ = await timed(session, "GET", "/?band=critical", QUEUE_MARK)
            reason_ms, page_ms = await open_alert(session, csrf, alert_id)
            if round_ >= WARMUP:
                for kind, ms in zip(KINDS, (queue_ms, critical_ms, page_ms, reason_ms), strict=True):
                    times[kind].append(ms)
    return times


def figures(times: list[float]) -> dict[str, Any]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"count": len(times), "p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1),
            "p99_ms": round(cuts[98], 1), "max_ms": round(max(times), 1), "met": cuts[94] < TARGET_P95_MS}


def sample_alerts(loaded: Loaded, rng: random.Random, name: str, regions: set[str] | None, opened: int,
                  looked_at: int) -> tuple[list[str], list[Indexed]]:
    """Different alerts the user may see and that are not theirs: ``opened`` to open (the first look asks
    why), and ``looked_at`` others to have looked at before."""
    mine = [alert for alert in loaded.index if (regions is None or alert.region in regions) and alert.assignee != name]
    if len(mine) < opened + looked_at:
        raise BenchmarkError(f"{name} may see {len(mine)} alerts, fewer than the {opened + looked_at} to open or "
                             "have looked at: give more --alerts, or fewer --requests or --looks-since-analyze")
    chosen = rng.sample(mine, opened + looked_at)
    return [alert.alert_id for alert in chosen[:opened]], chosen[opened:]


# -- the run ------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts to load (default 100,000)")
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests of each kind for each user; as many different alerts opened")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true",
                        help="keep the data: the server's folder (stopped) or the database, and the dashboard's log")
    parser.add_argument("--server-url", help="a running PostgreSQL server's maintenance database URL "
                                             "(postgresql+psycopg://...): load a new database there")
    parser.add_argument("--regional-scope", default="EMSOU", choices=[r for r in REGIONS if r != "UNKNOWN"])
    parser.add_argument("--looks-since-analyze", type=int, default=0, metavar="N",
                        help="give each of the two users N earlier looks at alerts, stored after ANALYZE (a user "
                             "who has worked since the statistics were gathered, as a new one has); default 0")
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # the dashboard subprocess
    parser.add_argument("--serve-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests < 2 or args.alerts < 1:
        parser.error("give at least 2 --requests (percentiles need two) and 1 alert")
    return args


def measure(args: argparse.Namespace, folder: Path, server_url: str) -> dict[str, Any]:
    """Load a new database on the server, serve the dashboard over it and time it; the report."""
    started = time.monotonic()
    rng = random.Random(args.seed)
    regional, national = f"bench-{args.regional_scope.lower()}", "bench-national"
    staff = Staff.made(regional, args.regional_scope)
    database_url = create_database(server_url)
    folder.joinpath("database_url").write_text(database_url)
    engine = build_engine(Settings(database_url=database_url, data_dir=folder))
    dashboard = None
    try:
        migrate(engine)
        progress(f"loading {args.alerts} alerts into {engine.url.render_as_string(hide_password=True)}")
        loaded = load(engine, folder / "audit-head.json", args.alerts, rng, staff)
        loaded.users = add_users(engine, staff, (regional, args.regional_scope), national)
        with timer(loaded.seconds, "vacuum_analyze"):
            vacuum_analyze(engine)
        with engine.connect() as connection:
            server_version = connection.execute(text("SHOW server_version")).scalar_one()
            active = {region: n for region, n in connection.execute(
                select(AlertRow.region, func.count()).where(AlertRow.status.in_(("open", "acknowledged")))
                .group_by(AlertRow.region))}
        port = free_port()
        users = {"regional": (regional, {args.regional_scope}), "national": (national, None)}
        chosen = {who: sample_alerts(loaded, rng, name, regions, args.requests + WARMUP, args.looks_since_analyze)
                  for who, (name, regions) in users.items()}
        for who, (name, _) in users.items():
            add_looks(engine, folder / "audit-head.json", name, chosen[who][1], utc_now())
        progress(f"loaded in {sum(loaded.seconds.values()):.0f} s; serving the dashboard")
        dashboard = start_dashboard(database_url, folder, port)
        requests: dict[str, Any] = {}
        for who, (name, regions) in users.items():
            progress(f"timing {name}: {args.requests} of each request")
            times = asyncio.run(drive(f"http://127.0.0.1:{port}", name, chosen[who][0]))
            requests[who] = {"user": name, "scope": args.regional_scope if regions else NATIONAL,
                             "active_alerts_in_scope": sum(n for r, n in active.items() if not regions or r in regions),
                             "looks_since_analyze": args.looks_since_analyze,
                             **{kind: figures(times[kind]) for kind in KINDS}}
    finally:
        if dashboard is not None:
            stop_dashboard(dashboard)
        if args.keep:
            with engine.connect() as connection:
                connection.execute(text("CHECKPOINT"))  # so that the kept cluster starts again without recovery
        engine.dispose()
        if not args.keep:
            drop_database(server_url, database_url)
    return {
        "benchmark": "dashboard", "seed": args.seed, "alerts": loaded.alerts, "regions": len(loaded.per_region),
        "alerts_per_region": dict(sorted(loaded.per_region.items())),
        "bands": {band: loaded.bands[band] for band in BAND_SHARE},
        "statuses": {status: loaded.statuses[status] for status in get_args(contract.AlertStatus)},
        "match_decisions": loaded.decisions, "nominals": loaded.nominals, "audit_entries": loaded.audit_entries,
        "deliveries": loaded.deliveries, "views": loaded.views, "comments": loaded.comments, "users": loaded.users,
        "postgres": server_version, "load_s": {part: round(s, 1) for part, s in loaded.seconds.items()},
        "concurrency": 1, "warmup_per_kind": WARMUP, "target_p95_ms": TARGET_P95_MS, "requests": requests,
        "target_met": all(requests[who][kind]["met"] for who in requests for kind in TIMED_KINDS),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    args = arguments()
    if args.serve_port:
        serve(args.serve_port, args.serve_folder)
        return
    # A SIGTERM ends the run as Ctrl-C does: through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="toex-dashboard-bench-"))
    postgres = None
    try:
        if args.server_url:
            server_url = args.server_url
        else:
            postgres = ThrowawayPostgres()
            server_url = postgres.start()
        report = measure(args, folder, server_url)
    except (BenchmarkError, PostgresUnavailable) as exc:
        print(f"dashboard benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        progress("interrupted: stopping the servers")
        sys.exit(130)
    finally:
        if postgres is not None:
            if args.keep:
                postgres.halt()  # stopped, its folder kept
                progress(f"kept the PostgreSQL cluster; start it with: runuser -u postgres -- {postgres.bin}/pg_ctl "
                         f"start -D {postgres.data} -o '-p {postgres.port} -k {postgres.root}'")
            else:
                postgres.stop()
        if args.keep:
            progress(f"kept the dashboard's log and the audit head in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.keep:
        report["kept"] = {"folder": str(folder), **({"postgres_data": str(postgres.data)} if postgres else {})}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
