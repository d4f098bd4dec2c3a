"""Every topic toex-stream uses: declared in ``toex_stream/topics.py``, re-exported here unchanged.

The worker creates them explicitly at start (``ensure_topics``): the local
broker has auto-creation off, and tables need co-partitioned changelogs. The
declarations live in the core because ``toex-stream nominals import`` creates
them too, and the core never imports ``streams``.
"""

from toex_stream.topics import (
    ADVERTS,
    ALERTS,
    ALL,
    DAY_MS,
    DEADLETTER,
    FEEDBACK,
    INTEL,
    MATCHES,
    NOMINALS,
    OBSERVATIONS,
    PARTITIONS,
    REFERRALS,
    SCORES,
    TRAINING,
    TopicSpec,
)

__all__ = [
    "ADVERTS", "ALERTS", "ALL", "DAY_MS", "DEADLETTER", "FEEDBACK", "INTEL", "MATCHES", "NOMINALS",
    "OBSERVATIONS", "PARTITIONS", "REFERRALS", "SCORES", "TRAINING", "TopicSpec",
]  # fmt: skip
