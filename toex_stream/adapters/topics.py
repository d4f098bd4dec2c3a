"""Every topic toex-stream uses, declared once: partitions, retention, cleanup policy.

A topic's retention is the period of the category of data it holds, from the
retention policy (``toex_stream/data/retention.yaml`` or ``TOEX_RETENTION_FILE``):
:func:`with_retention` gives the specs with a policy's periods; a spec used as
declared takes the bundled policy's.

Pure data, in the core so that both the worker (``python -m streams``) and the
command line (``toex-stream nominals import``) create the same topics with
``toex_stream.adapters.kafka_io.ensure_topics``: the local broker has auto-creation off,
and tables need co-partitioned changelogs. ``streams/topics.py`` re-exports it.

>>> [spec.name for spec in ALL if spec.partitions != PARTITIONS]
['toex.training', 'toex.deadletter', 'toex.situation-input']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from toex_stream.domain import contract
from toex_stream.domain.retention import RetentionCategory, RetentionPolicy, load_retention


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is laid out on the broker.

    >>> TopicSpec("toex.nominals", partitions=4, cleanup_policy="compact").config()
    {'cleanup.policy': 'compact'}
    """

    name: str
    partitions: int
    retention_ms: int | None = None
    cleanup_policy: Literal["delete", "compact"] = "delete"
    replication_factor: int = 1
    # The category of data it holds: its retention.ms is that category's period, unless retention_ms says.
    retention: RetentionCategory | None = None

    def config(self) -> dict[str, str]:
        config: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        retention_ms = self.retention_ms
        if retention_ms is None and self.retention is not None:
            retention_ms = load_retention().retention_ms(self.retention)
        if retention_ms is not None:
            config["retention.ms"] = str(retention_ms)
        return config


def with_retention(specs: list[TopicSpec], policy: RetentionPolicy) -> list[TopicSpec]:
    """The specs with ``retention_ms`` set from ``policy`` for each topic that holds a category of data.

    >>> [spec.retention_ms for spec in with_retention([REFERRALS, NOMINALS], load_retention())]
    [31536000000, None]
    """
    return [replace(spec, retention_ms=policy.retention_ms(spec.retention)) if spec.retention is not None else spec
            for spec in specs]


DAY_MS = 24 * 60 * 60 * 1000

# Four partitions everywhere: enough for two workers per core on small
# deployments, and equal counts keep every table co-partitioned with the topics keyed like it.
PARTITIONS = 4

REFERRALS = TopicSpec(contract.TOPIC_REFERRALS, PARTITIONS, retention="referrals")
ADVERTS = TopicSpec(contract.TOPIC_ADVERTS, PARTITIONS, retention="adverts")
INTEL = TopicSpec(contract.TOPIC_INTEL, PARTITIONS, retention="intelligence")
# Compacted: the latest value per nominal_id is the force's current record; a null erases it (the retention
# run erases provisional nominals so).
NOMINALS = TopicSpec(contract.TOPIC_NOMINALS, PARTITIONS, cleanup_policy="compact")
# Keyed by nominal_id: the feedback agent reads the nominal's features from the scorer's table.
# The analysts' outcomes of alerts: kept as long as the alerts.
FEEDBACK = TopicSpec(contract.TOPIC_FEEDBACK, PARTITIONS, retention="alerts")
OBSERVATIONS = TopicSpec(contract.TOPIC_OBSERVATIONS, PARTITIONS, retention="derived_events")
# Keyed by nominal: every match of one person lands on one partition, for scoring.
MATCHES = TopicSpec(contract.TOPIC_MATCHES, PARTITIONS, retention="derived_events")
ALERTS = TopicSpec(contract.TOPIC_ALERTS, PARTITIONS, retention="alerts")
# Dead letters wait for a person to look at them.
DEADLETTER = TopicSpec(contract.TOPIC_DEADLETTER, 1, retention="dead_letters")

# Keyed by nominal like the matches, so the scorer's table is co-partitioned with both.
SCORES = TopicSpec(contract.TOPIC_SCORES, PARTITIONS, retention="derived_events")
# One partition and kept for ever (training_examples: as long as the model needs them): every worker learns
# from it in the same order, and a worker started from nothing replays it to the same model.
TRAINING = TopicSpec(contract.TOPIC_TRAINING, 1, retention="training_examples")

# Internal: a record per erased nominal, keyed by it like the scoring tables, so the owner of its partition
# deletes the nominal's scoring state and alert groups. A topic of its own: no agent has to read every nominal
# on toex.nominals to find the few erased.
ERASURES = TopicSpec("toex.erasures", PARTITIONS, retention="derived_events")

# Internal: the situation step's input (each match's evidence and scores, analysts' closings, erasures), on one
# partition so that one worker owns every situation whole and reads it in one order. Its state is a fold over
# this topic, rebuilt by reading it again: kept for the links' window (derived_events: 90 days).
SITUATION_INPUT = TopicSpec(contract.TOPIC_SITUATION_INPUT, 1, retention="derived_events")

ALL: list[TopicSpec] = [REFERRALS, ADVERTS, INTEL, NOMINALS, FEEDBACK, OBSERVATIONS, MATCHES, SCORES, TRAINING,
                        ALERTS, DEADLETTER, ERASURES, SITUATION_INPUT]
