"""The worker's ``/metrics``: Prometheus' exposition format, written by prometheus_client.

Two kinds of series. What the agents count as they go (records processed,
errors, dead letters, healed stalls) and what the commit rule knows of each
partition (lag, processed-but-uncommitted records) live in a
:class:`~prometheus_client.CollectorRegistry` of the worker's own, one per
:func:`build_metrics` call, so tests can build several. What other objects
already hold (the threat models' drift and label counts, the outbox backlog)
is read when ``/metrics`` is scraped and passed to :meth:`WorkerMetrics.render`.

Labels hold topic names, partition numbers, agent names and kinds from a closed
set: never a value taken from an event. A label that does not look like one of
those is refused with :class:`UnsafeLabel`.

>>> metrics = build_metrics()
>>> metrics.dead_letter("toex.referrals", "schema")
>>> b'toex_dead_letters_total{kind="schema",topic="toex.referrals"} 1.0' in metrics.render(None, None)
True
>>> metrics.dead_letter("toex.referrals", "Jane Doe, 12 Mill Street")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streams.metrics.UnsafeLabel: toex_dead_letters_total: kind must be one of not_utf8, invalid_json, schema, internal ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from toex_stream.adapters.sql.outbox import Backlog
from toex_stream.domain.contract import DeadLetterKind
from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.scorer import Scorer

# The Content-Type of what render() returns: the text format version prometheus_client writes.
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Why an agent could not finish a record: bytes it cannot read, a record the contract
# refuses, a failure a retry may cure (broker, network), the database, or a bug.
AgentErrorKind = Literal["decode", "contract", "transient", "database", "internal"]

# Kafka's legal topic names; the characters also keep free text (spaces, '@', ',') out.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# The names the worker gives its agents and timers: "enrich", "match", "deliver_alerts".
_AGENT = re.compile(r"[a-z][a-z0-9_.]{0,99}")


class UnsafeLabel(ToexError, ValueError):
    """A metric label that is not a topic, partition, agent name or known kind.

    The message does not repeat the value: a label refused for looking like
    free text may be personal data, and messages end up in logs.
    """


def _kind(metric: str, kind: str, allowed: tuple[str, ...]) -> str:
    if kind not in allowed:
        raise UnsafeLabel(f"{metric}: kind must be one of {', '.join(allowed)} (the value given is not repeated "
                          "here); add a new kind to its Literal, never free text")
    return kind


def _topic(metric: str, topic: str) -> str:
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
        raise UnsafeLabel(f"{metric}: topic must be a Kafka topic name (letters, digits, '.', '_', '-'); "
                          "pass message.topic, never a value from the record")
    return topic


def _partition(metric: str, partition: int) -> str:
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise UnsafeLabel(f"{metric}: partition must be a partition number (an int from 0)")
    return str(partition)


def _agent(metric: str, agent: str) -> str:
    if not isinstance(agent, str) or not _AGENT.fullmatch(agent):
        raise UnsafeLabel(f"{metric}: agent must be an agent's name (lower case, digits, '_' or '.'), "
                          "as given to app.agent(name=...)")
    return agent


@dataclass(frozen=True)
class WorkerMetrics:
    """The worker's registry and the series the agents update; build it with :func:`build_metrics`.

    Every method is cheap and thread-safe: call it from an agent on the event
    loop or from a function run with ``asyncio.to_thread``.
    """

    registry: CollectorRegistry
    consumer_lag: Gauge
    uncommitted_processed: Gauge
    stalled_partitions_healed: Counter
    dead_letters: Counter
    agent_errors: Counter
    agent_processed: Counter
    erased_mentions_withheld: Counter

    def set_partition(self, topic: str, partition: int, lag: int, gap: int) -> None:
        """Where one assigned partition stands: ``lag`` records after the committed offset, up to the
        log end; ``gap`` records processed that the commit cannot cover yet (behind a missing offset)."""
        labels = (_topic("toex_consumer_lag", topic), _partition("toex_consumer_lag", partition))
        self.consumer_lag.labels(*labels).set(lag)
        self.uncommitted_processed.labels(*labels).set(gap)

    def forget_partition(self, topic: str, partition: int) -> None:
        """The partition was revoked: another worker reports it now, so this one stops (no stale series)."""
        labels = (_topic("toex_consumer_lag", topic), _partition("toex_consumer_lag", partition))
        self.consumer_lag.remove(*labels)  # removing a label set never reported is a no-op
        self.uncommitted_processed.remove(*labels)

    def healed(self, topic: str) -> None:
        """A partition of ``topic`` whose commit was stuck was read again from its commit point."""
        self.stalled_partitions_healed.labels(_topic("toex_stalled_partitions_healed_total", topic)).inc()

    def dead_letter(self, topic: str, kind: DeadLetterKind) -> None:
        """A record of ``topic`` went to toex.deadletter; ``kind`` is the DeadLetter's kind."""
        metric = "toex_dead_letters_total"
        self.dead_letters.labels(_topic(metric, topic), _kind(metric, kind, get_args(DeadLetterKind))).inc()

    def agent_error(self, agent: str, kind: AgentErrorKind) -> None:
        """``agent`` could not finish a record, for a reason of ``kind``."""
        metric = "toex_agent_errors_total"
        self.agent_errors.labels(_agent(metric, agent), _kind(metric, kind, get_args(AgentErrorKind))).inc()

    def processed(self, agent: str, n: int = 1) -> None:
        """``agent`` finished ``n`` more records (whatever came of them: sent on, dead-lettered, skipped)."""
        self.agent_processed.labels(_agent("toex_agent_processed_total", agent)).inc(n)

    def withheld(self, agent: str, n: int = 1) -> None:
        """``agent`` kept ``n`` more mentions of erased people out (the erasure register)."""
        self.erased_mentions_withheld.labels(_agent("toex_erased_mentions_withheld_total", agent)).inc(n)

    def render(self, scorer: Scorer | None, backlog: Backlog | None) -> bytes:
        """The exposition of this scrape: the registry's series, then the models' and the outbox's.

        Call it on the event loop, where the agents change the scorer's models,
        with a ``backlog`` read beforehand in a thread (it is a database query)::

            backlog = await asyncio.to_thread(outbox.backlog, now)
            body = metrics.render(scorer, backlog)

        ``None`` leaves that part out (a worker without a scorer or an outbox).
        """
        return generate_latest(_Scrape(self.registry, scorer, backlog))


def build_metrics(agents: Iterable[str] = (), topics: Iterable[str] = ()) -> WorkerMetrics:
    """A registry of its own with every series the agents update.

    Each counter of the ``agents`` (each kind of error, records processed) and
    of the ``topics`` (each kind of dead letter, healed stalls) starts at 0, so
    that ``increase()`` over the first dead letter or error is 1, not nothing:
    Prometheus sees no increase in a series that appears with its first count.
    """
    registry = CollectorRegistry()
    partition = ["topic", "partition"]
    metrics = WorkerMetrics(
        registry=registry,
        consumer_lag=Gauge(
            "toex_consumer_lag", "Records on the partition after the group's committed offset (log end minus "
            "committed).", partition, registry=registry),
        uncommitted_processed=Gauge(
            "toex_uncommitted_processed", "Records processed on the partition that the commit cannot cover yet: "
            "they wait behind an offset no agent has finished.", partition, registry=registry),
        stalled_partitions_healed=Counter(
            "toex_stalled_partitions_healed", "Partitions read again from their commit point because the commit "
            "was stuck behind a missing offset or an idle agent.", ["topic"], registry=registry),
        dead_letters=Counter(
            "toex_dead_letters", "Records sent to toex.deadletter, by the topic they came from and why.",
            ["topic", "kind"], registry=registry),
        agent_errors=Counter(
            "toex_agent_errors", "Records an agent could not finish, by the kind of error.", ["agent", "kind"],
            registry=registry),
        agent_processed=Counter(
            "toex_agent_processed", "Records an agent finished, whatever came of them.", ["agent"],
            registry=registry),
        erased_mentions_withheld=Counter(
            "toex_erased_mentions_withheld", "Mentions of erased people that enrich or matching kept out "
            "(the erasure register).", ["agent"], registry=registry),
    )
    for agent in agents:
        metrics.agent_processed.labels(_agent("toex_agent_processed_total", agent))
        if agent in ("enrich", "match"):  # the agents that honour the erasure register
            metrics.erased_mentions_withheld.labels(_agent("toex_erased_mentions_withheld_total", agent))
        for kind in get_args(AgentErrorKind):
            metrics.agent_errors.labels(_agent("toex_agent_errors_total", agent), kind)
    for topic in topics:
        metrics.stalled_partitions_healed.labels(_topic("toex_stalled_partitions_healed_total", topic))
        for kind in get_args(DeadLetterKind):
            metrics.dead_letters.labels(_topic("toex_dead_letters_total", topic), kind)
    return metrics


@dataclass(frozen=True)
class _Scrape:
    """A collector for one scrape: the registry's families, then those read from the scorer and outbox.

    Built per scrape rather than registered: what it reads is passed in, so
    nothing is cached between scrapes and two scrapes cannot see each other's.
    """

    registry: CollectorRegistry
    scorer: Scorer | None
    backlog: Backlog | None

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            # A counter's _created sample (when its label set was first used) becomes a gauge family of
            # its own in the text format, one series per counter series, and tells Prometheus nothing
            # here: every counter resets together when the worker restarts. prometheus_client can
            # switch it off only process-wide (disable_created_metrics), so it is left out here.
            family.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield family
        if self.scorer is not None:
            yield from _model_families(self.scorer)
        if self.backlog is not None:
            yield from _outbox_families(self.backlog)


def _model_families(scorer: Scorer) -> Iterator[Metric]:
    score_drift = CounterMetricFamily(
        "toex_score_drift", "Changes in a threat model's score distribution that ADWIN detected since the "
        "worker started.", labels=["threat"])
    label_drift = CounterMetricFamily(
        "toex_label_drift", "Changes in a threat model's rate of positive labels that ADWIN detected since the "
        "worker started.", labels=["threat"])
    labels = GaugeMetricFamily("toex_model_labels", "Labelled outcomes a threat model has learnt from.",
                               labels=["threat"])
    for threat, model in scorer.models.items():
        score_drift.add_metric([threat], model.drift.score_drifts)
        label_drift.add_metric([threat], model.drift.label_drifts)
        labels.add_metric([threat], model.labels)
    yield from (score_drift, label_drift, labels)


def _outbox_families(backlog: Backlog) -> Iterator[Metric]:
    yield GaugeMetricFamily("toex_outbox_pending", "Alert messages in the outbox not yet delivered.",
                            value=backlog.pending)
    yield GaugeMetricFamily("toex_outbox_failing", "Undelivered alert messages whose last delivery attempt "
                            "failed.", value=backlog.failing)
    yield GaugeMetricFamily("toex_outbox_oldest_pending_seconds", "How long the oldest undelivered alert "
                            "message has waited; 0 when none waits.", value=backlog.oldest_pending_s)
    # Per channel (a receiver of the routes file: its name, nothing about people), those with any waiting.
    pending = GaugeMetricFamily("toex_outbox_receiver_pending", "Alert messages waiting for one receiver.",
                                labels=["receiver"])
    age = GaugeMetricFamily("toex_outbox_receiver_oldest_pending_seconds", "How long the oldest message "
                            "waiting for one receiver has waited (its queue's age).", labels=["receiver"])
    for receiver, count, oldest in backlog.by_receiver:
        pending.add_metric([receiver], count)
        age.add_metric([receiver], oldest)
    yield from (pending, age)
