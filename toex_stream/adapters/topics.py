"""Every topic toex-stream uses, declared once: partitions, retention, cleanup policy.

Pure data, in the core so that both the worker (``python -m streams``) and the
command line (``toex-stream nominals import``) create the same topics with
``toex_stream.adapters.kafka_io.ensure_topics``: the local broker has auto-creation off,
and tables need co-partitioned changelogs. ``streams/topics.py`` re-exports it.

>>> [spec.name for spec in ALL if spec.partitions != PARTITIONS]
['toex.training', 'toex.deadletter']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toex_stream.domain import contract


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

    def config(self) -> dict[str, str]:
        config: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config


DAY_MS = 24 * 60 * 60 * 1000

# Four partitions everywhere: enough for two workers per core on small
# deployments, and equal counts keep every table co-partitioned with the topics keyed like it.
PARTITIONS = 4

REFERRALS = TopicSpec(contract.TOPIC_REFERRALS, PARTITIONS, retention_ms=365 * DAY_MS)
ADVERTS = TopicSpec(contract.TOPIC_ADVERTS, PARTITIONS, retention_ms=365 * DAY_MS)
INTEL = TopicSpec(contract.TOPIC_INTEL, PARTITIONS, retention_ms=365 * DAY_MS)
# Compacted: the latest value per nominal_id is the force's current record; a null erases it.
NOMINALS = TopicSpec(contract.TOPIC_NOMINALS, PARTITIONS, cleanup_policy="compact")
# Keyed by nominal_id: the feedback agent reads the nominal's features from the scorer's table.
FEEDBACK = TopicSpec(contract.TOPIC_FEEDBACK, PARTITIONS, retention_ms=365 * DAY_MS)
OBSERVATIONS = TopicSpec(contract.TOPIC_OBSERVATIONS, PARTITIONS, retention_ms=90 * DAY_MS)
# Keyed by nominal: every match of one person lands on one partition, for scoring.
MATCHES = TopicSpec(contract.TOPIC_MATCHES, PARTITIONS, retention_ms=90 * DAY_MS)
ALERTS = TopicSpec(contract.TOPIC_ALERTS, PARTITIONS, retention_ms=365 * DAY_MS)
# Dead letters wait for a person to look at them; keep them as long as the inputs.
DEADLETTER = TopicSpec(contract.TOPIC_DEADLETTER, 1, retention_ms=365 * DAY_MS)

# Keyed by nominal like the matches, so the scorer's table is co-partitioned with both.
SCORES = TopicSpec(contract.TOPIC_SCORES, PARTITIONS, retention_ms=365 * DAY_MS)
# One partition and kept for ever: every worker learns from it in the same order,
# and a worker started from nothing replays it to the same model.
TRAINING = TopicSpec(contract.TOPIC_TRAINING, 1, retention_ms=-1)

ALL: list[TopicSpec] = [REFERRALS, ADVERTS, INTEL, NOMINALS, FEEDBACK, OBSERVATIONS, MATCHES, SCORES, TRAINING,
                        ALERTS, DEADLETTER]
