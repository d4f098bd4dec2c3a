"""``python -m streams``: the composition root of the worker. Creates the topics, then runs until stopped."""

from __future__ import annotations

import logging
import os

import faust
from pydantic import SecretStr

from streams import topics
from streams.app import build_app
from streams.services import Services
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import ensure_topics
from toex_stream.adapters.kafka_publisher import KafkaReferralPublisher
from toex_stream.adapters.log_privacy import install_redaction
from toex_stream.adapters.senders import build_notifiers
from toex_stream.adapters.settings import Settings, load_settings
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.silences import Silences
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.domain.alerting.routes_file import RoutesFile
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.model_files import LIVE_MODEL_FILE, TRAINED_MODEL_FILE, trained_model
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


def build_worker_app(settings: Settings) -> faust.App:
    """The composition root: every client built from ``settings``, the app wired; nothing connects yet."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    matcher = build_matcher(settings)
    routes = RoutesFile(settings.routes_file) if settings.routes_file else RoutesFile.bundled()
    receipts = IntakeStore(engine)
    kafka = KafkaAccess.from_settings(settings)
    services = Services(
        kafka=kafka, store=SqlAlchemyNominalStore(engine), matcher=matcher,
        scorer=Scorer(load_profiles(settings.profiles_dir)),
        checkpoint_file=settings.data_dir / CHECKPOINT_FILE,
        estimate_u_on_load=not (settings.data_dir / TRAINED_MODEL_FILE).exists(),
        match_model_file=settings.data_dir / LIVE_MODEL_FILE,
        outbox=Outbox(engine), routes=routes, notifiers=build_worker_notifiers(routes, settings),
        silences=Silences(engine), receipts=receipts,
    )
    intake = build_intake(settings, receipts,
                          KafkaReferralPublisher(kafka, settings.intake_publish_timeout_s))
    return build_app(settings, services, intake)


def main() -> None:
    install_redaction()  # before anything logs: no identifier in any log line of the worker
    settings = load_settings()
    ensure_topics(KafkaAccess.from_settings(settings), topics.ALL + topics.CHANGELOGS)
    app = build_worker_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
