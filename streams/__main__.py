"""``python -m streams``: the composition root of the worker. Creates the topics, then runs until stopped."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import faust
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from streams import retention, topics
from streams.app import build_app
from streams.services import Services
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import KafkaUnavailable, durable_producer, ensure_topics
from toex_stream.adapters.kafka_publisher import KafkaReferralPublisher
from toex_stream.adapters.kafka_retention import NominalTombstones, align_retention
from toex_stream.adapters.log_privacy import install_redaction
from toex_stream.adapters.senders import build_notifiers, process_holder
from toex_stream.adapters.settings import Settings, load_settings
from toex_stream.adapters.sql.audit import SqlAuditTrail
from toex_stream.adapters.sql.erasure import SqlErasureStore
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.retention import SqlRetentionStore
from toex_stream.adapters.sql.silences import Silences
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.adapters.topics import with_retention
from toex_stream.domain.alerting.routes_file import RoutesFile
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.model_files import LIVE_MODEL_FILE, TRAINED_MODEL_FILE, trained_model
from toex_stream.domain.retention import load_retention
from toex_stream.domain.scoring.checkpoint import CHECKPOINT_FILE
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.entry.web import build_intake
from toex_stream.ports.alerts import Notifier

log = logging.getLogger(__name__)

def build_matcher(settings: Settings) -> Matcher:
    """The matcher with the trained model in the data folder, or the default model."""
    model = trained_model(settings.data_dir)
    if model is not None:
        log.info("match model from %s", settings.data_dir / TRAINED_MODEL_FILE)
        return Matcher(model=model)
    return Matcher()


def build_worker_notifiers(routes: RoutesFile, settings: Settings) -> dict[str, Notifier]:
    """Notifiers for every receiver; without a Slack token, Slack receivers log instead (development)."""
    receivers = list(routes.current().receivers)
    if settings.slack_bot_token is None:
        slack = [r.name for r in receivers if r.kind == "slack"]
        if slack:
            log.warning("TOEX_SLACK_BOT_TOKEN is not set: %d Slack receivers log their alerts instead", len(slack))
        receivers = [r.model_copy(update={"kind": "log"}) if r.kind == "slack" else r for r in receivers]
    webhooks = {r.webhook_setting: SecretStr(os.environ[r.webhook_setting]) for r in receivers
                if r.kind == "teams" and r.webhook_setting and r.webhook_setting in os.environ}
    return build_notifiers(receivers, settings, webhooks)


def file_digest(path: Path) -> str:
    """The first 16 hex digits of a configuration file's sha256: which version was in force."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def build_worker_app(settings: Settings) -> faust.App:
    """The composition root: every client built from ``settings``, the app wired; nothing connects yet."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    matcher = build_matcher(settings)
    audit = SqlAuditTrail(engine, settings.audit_head_path)
    routes = RoutesFile(settings.routes_file) if settings.routes_file else RoutesFile.bundled()
    profiles = load_profiles(settings.profiles_dir)
    # The configuration that decides who is told about whom: logged (s.62, alteration) at start and on each reload.
    audit.record(AuditRecord("alteration", "configuration.loaded", "system:worker", "worker",
                             f"routes {routes.path.name} sha256 {file_digest(routes.path)}; profiles "
                             + ", ".join(f"{p.id}@v{p.version}" for p in profiles.values())))
    routes.on_reload = lambda path: audit.record(AuditRecord(
        "alteration", "routes.reloaded", "system:worker", path.name, f"sha256 {file_digest(path)}"))
    receipts = IntakeStore(engine)
    kafka = KafkaAccess.from_settings(settings)
    services = Services(
        kafka=kafka, store=SqlAlchemyNominalStore(engine), matcher=matcher,
        scorer=Scorer(profiles),
        checkpoint_file=settings.data_dir / CHECKPOINT_FILE,
        estimate_u_on_load=not (settings.data_dir / TRAINED_MODEL_FILE).exists(),
        match_model_file=settings.data_dir / LIVE_MODEL_FILE,
        outbox=Outbox(engine, audit_head=settings.audit_head_path), routes=routes,
        notifiers=build_worker_notifiers(routes, settings), silences=Silences(engine), receipts=receipts,
        audit=audit, erasures=SqlErasureStore(engine), public_url=settings.public_url,
    )
    intake = build_intake(settings, receipts,
                          KafkaReferralPublisher(kafka, settings.intake_publish_timeout_s))
    app = build_app(settings, services, intake)
    # Hourly, on one worker: what the retention policy says is due goes (streams/retention.py).
    retention.register(app, retention.RetentionJob(
        policy=load_retention(settings.retention_file), store=SqlRetentionStore(engine),
        tombstones=NominalTombstones(durable_producer(kafka)), audit=audit, lease=services.outbox,
        holder=process_holder()))
    return app


def main() -> None:
    install_redaction()  # before anything logs: no identifier in any log line of the worker
    settings = load_settings()
    kafka = KafkaAccess.from_settings(settings)
    # Every topic's retention.ms from the retention policy: set on those created, and on those already there.
    specs = with_retention(topics.ALL, load_retention(settings.retention_file))
    ensure_topics(kafka, specs + topics.CHANGELOGS)
    try:
        align_retention(AdminClient({**kafka.confluent_config(), "log_level": 0}), specs)
    except KafkaUnavailable as exc:
        # An account without ALTER_CONFIGS must not stop the alerts: the topics keep their old retention
        # until an operator sets it (said at every start until then).
        log.warning("topics' retention not aligned with the retention policy: %s", exc)
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
