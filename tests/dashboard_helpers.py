"""A dashboard over a real (SQLite) database for tests: users, alerts, match decisions and the s.62 log.

Everything is the production code's but Kafka: outcomes go to a list and an
event's text comes from a dict, so the unit tests run in seconds. The browser
test (tests/integration/test_dashboard_browser.py) runs the same application
over the real broker and worker.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import AuditChainRow, SqlAuditTrail
from toex_stream.adapters.sql.casework import SqlCaseFiles
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.adapters.sql.users import Users
from toex_stream.application.alert_lifecycle import AlertLifecycle
from toex_stream.application.casework import Casework
from toex_stream.domain import contract
from toex_stream.domain.access import Role, parse_scope
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.audit import AuditRecord
from toex_stream.ports.store import MatchDecision, Provenance

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
ADVERT_TEXT = {"title": "New in town", "body": "Young and fresh girl, just arrived. My friend will drive you."}


@dataclass
class Texts:
    """Input messages by (topic, partition, offset), as Kafka would give them back."""

    values: dict[tuple[str, int, int], bytes] = field(default_factory=dict)

    def read(self, topic: str, partition: int, offset: int) -> bytes | None:
        return self.values.get((topic, partition, offset))


@dataclass
class Desk:
    engine: Engine
    settings: Settings
    users: Users
    outbox: Outbox
    casework: Casework
    texts: Texts
    published: list[tuple[bytes, contract.Feedback]]

    def add_user(self, name: str, role: Role = "analyst", scope: str = "EMSOU") -> None:
        self.users.add(name, role, parse_scope(scope), password=PASSWORD)

    def consultations(self, alert_id: str, category: str = "consultation") -> list[AuditRecord]:
        """The s.62 log's entries about ``alert_id`` of ``category`` (looks, by default), oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(AuditChainRow).where(AuditChainRow.subject == alert_id,
                                                               AuditChainRow.category == category)
                                   .order_by(AuditChainRow.seq))
            return [AuditRecord(r.category, r.action, r.actor, r.subject, r.what, r.why, at=r.at)  # type: ignore[arg-type]
                    for r in rows]


def desk(tmp_path: Path, public_url: str | None = None) -> Desk:
    settings = Settings(data_dir=tmp_path / "data", public_url=public_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    audit = SqlAuditTrail(engine, tmp_path / "audit-head")
    outbox = Outbox(engine)
    published: list[tuple[bytes, contract.Feedback]] = []
    lifecycle = AlertLifecycle(outbox, load_routes(), lambda key, feedback: published.append((key, feedback)),
                               audit=audit)
    texts = Texts()
    casework = Casework(SqlCaseFiles(engine), lifecycle, audit, texts)
    return Desk(engine, settings, Users(engine, hasher=FAST), outbox, casework, texts, published)


def seed_alert(desk: Desk, alert_id: str, region: str = "EMSOU", band: contract.Band = "high",
               at: dt.datetime = AT) -> contract.Alert:
    """An alert about a controller and a possible victim named in a referral, the controller's advert beside it,
    with the match decisions the worker would have filed and the nominal records."""
    tag = alert_id.lower()
    boss, victim = f"NHP-N-{tag}-1", f"prov-{tag}-2"
    referral, advert = f"toex.referrals:anchor-house-trust:R-{tag}", f"toex.adverts:board:{tag}"
    store = SqlAlchemyNominalStore(desk.engine)
    for nominal_id, given, family in ((boss, "Ion", "Lungu"), (victim, "Maria", "Pop")):
        store.upsert_nominal(contract.Nominal(schema_version=1, nominal_id=nominal_id, given_name=given,
                                              family_name=family, date_of_birth=dt.date(1980, 1, 2),
                                              flags=["ocg_member"] if nominal_id == boss else [], updated_at=at),
                             Provenance("import", "test", at))
    weights = [{"field": "given_name", "level": "exact", "weight": 6.4, "tf_adjusted": True},
               {"field": "family_name", "level": "exact", "weight": 7.4, "tf_adjusted": True},
               {"field": "date_of_birth", "level": "exact", "weight": 12.9, "tf_adjusted": False}]
    decisions = [
        MatchDecision(f"{referral}#0", boss, "match", 0.999, weights, "fs-test", at, event=referral,
                      source_partition=0, source_offset=1, occurred_at=at, role="suspect",
                      facts={"urgency": "immediate_risk", "exploitation_types": ["labour"]},
                      prior_weight=-9.2, candidates=3),
        MatchDecision(f"{referral}#1", victim, "new", 0.0, [], "fs-test", at, event=referral,
                      source_partition=0, source_offset=1, occurred_at=at, role="potential_victim", facts={},
                      prior_weight=-9.2, candidates=0),
        MatchDecision(f"{advert}#0", boss, "match", 0.98, weights[:1], "fs-test", at + dt.timedelta(hours=1),
                      event=advert, source_partition=2, source_offset=7, occurred_at=at + dt.timedelta(hours=1),
                      role="unknown", facts={"indicator_weights": {"newness_touring": 1.2}}, prior_weight=-9.2,
                      candidates=1),
    ]
    store.record_decisions(decisions)
    desk.texts.values[("toex.adverts", 2, 7)] = json.dumps(ADVERT_TEXT).encode()
    alert = contract.Alert(
        schema_version=1, alert_id=alert_id, created_at=at, region=region, force_code="northamptonshire",  # type: ignore[arg-type]
        threat="msht", band=band, risk_score=0.91, nominal_ids=[boss, victim],
        event_refs=[contract.EventRef(topic="toex.referrals", key=f"anchor-house-trust:R-{tag}"),
                    contract.EventRef(topic="toex.adverts", key=f"board:{tag}")],
        reasons=[contract.Reason(feature="ocg_member", contribution=1.8, text="a known OCG member")],
        model_version="msht@v1/l0", situation_id=f"sit-{tag}", threats=["msht", "labour_exploitation"],
        bands={"msht": band, "labour_exploitation": "medium"},  # type: ignore[dict-item]
        members=[contract.AlertMember(nominal_id=boss, role="suspected_controller",
                                      linked_by=[f"named together with {victim} (1 events)"]),
                 contract.AlertMember(nominal_id=victim, role="possible_victim", provisional=True,
                                      linked_by=[f"named together with {boss} (1 events)"])],
    )
    desk.outbox.save_alert(alert, at=at)
    return alert
