"""Every topic toex-stream uses: declared in ``toex_stream/adapters/topics.py``, re-exported here unchanged.

The worker creates them explicitly at start (``ensure_topics``): the local
broker has auto-creation off, and tables need co-partitioned changelogs. The
declarations live in the core because ``toex-stream nominals import`` creates
them too, and the core never imports ``streams``.
"""

from toex_stream.adapters.topics import (
    ADVERTS,
    ALERTS,
    ALL,
    DAY_MS,
    DEADLETTER,
    ERASURES,
    FEEDBACK,
    INTEL,
    MATCHES,
    NOMINALS,
    OBSERVATIONS,
    PARTITIONS,
    REFERRALS,
    SCORES,
    SITUATION_INPUT,
    TRAINING,
    TopicSpec,
)

__all__ = [
    "ADVERTS", "ALERTS", "ALL", "APP_ID", "CHANGELOGS", "DAY_MS", "DEADLETTER", "ERASURES", "FEEDBACK", "INTEL",
    "MATCHES", "NOMINALS", "OBSERVATIONS", "PARTITIONS", "REFERRALS", "SCORES", "SITUATION_INPUT", "TRAINING",
    "TopicSpec", "changelog", "SITUATION_GROUPS_TABLE", "SITUATION_MEMBERS_TABLE", "NOMINAL_STATE_TABLE",
]  # fmt: skip

# The Faust app's id: its consumer group, and the prefix of its tables' changelog topics.
APP_ID = "toex-stream"
# What is known of each nominal over 30 days, co-partitioned with toex.matches and toex.feedback.
NOMINAL_STATE_TABLE = "nominal-state"
# Each situation's alert groups, on the one partition of toex.situation-input.
SITUATION_GROUPS_TABLE = "situation-groups"
# Each member of an alerted situation -> the situation's id, on the same partition.
SITUATION_MEMBERS_TABLE = "situation-members"


def changelog(table: str) -> str:
    """The changelog topic Faust names for ``table``."""
    return f"{APP_ID}-{table}-changelog"


# Created with the other topics before the worker starts, not by Faust as its tables start: a
# changelog created while the consumer is already reading metadata can be seen with too few
# partitions for minutes, and every table access then fails with PartitionsMismatch.
CHANGELOGS: list[TopicSpec] = [
    TopicSpec(changelog(NOMINAL_STATE_TABLE), MATCHES.partitions, cleanup_policy="compact"),
    TopicSpec(changelog(SITUATION_GROUPS_TABLE), SITUATION_INPUT.partitions, cleanup_policy="compact"),
    TopicSpec(changelog(SITUATION_MEMBERS_TABLE), SITUATION_INPUT.partitions, cleanup_policy="compact"),
]
