"""The worker's /metrics as Prometheus reads it: parsed back with prometheus_client's own parser."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.metrics import CONTENT_TYPE, UnsafeLabel, WorkerMetrics, build_metrics
from toex_stream.adapters.sql.outbox import Backlog
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer

# The series the hand-written page served before prometheus_client: dashboards and alerts use these names.
EXISTING_SERIES = {
    "toex_score_drift_total", "toex_label_drift_total", "toex_model_labels",
    "toex_outbox_pending", "toex_outbox_failing", "toex_outbox_oldest_pending_seconds",
}  # fmt: skip


def scrape(metrics: WorkerMetrics, scorer: Scorer | None = None, backlog: Backlog | None = None) -> dict:
    """The families of one scrape by name, as Prometheus' parser reads them (counters without ``_total``)."""
    families = list(text_string_to_metric_families(metrics.render(scorer, backlog).decode("utf-8")))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), f"a family is written twice: {names}"
    return {family.name: family for family in families}


def samples(family) -> dict[tuple, float]:
    return {tuple(sorted(sample.labels.items())): sample.value for sample in family.samples}


def test_the_six_existing_series_keep_their_names_and_gain_help_and_type() -> None:
    scorer = Scorer(load_profiles())
    cse = scorer.models["cse"]
    cse.drift.score_drifts, cse.drift.label_drifts, cse.labels = 3, 1, 42
    families = scrape(build_metrics(), scorer, Backlog(pending=7, failing=2, oldest_pending_s=312.5, by_receiver=(
        ("slack-ersou", 5, 312.5), ("teams-nwrocu", 2, 4.0))))

    served = {sample.name for family in families.values() for sample in family.samples}
    assert EXISTING_SERIES <= served
    kinds = {name: family.type for name, family in families.items()}
    assert kinds["toex_score_drift"] == kinds["toex_label_drift"] == "counter"
    assert {kinds[name] for name in EXISTING_SERIES - {"toex_score_drift_total", "toex_label_drift_total"}} == {"gauge"}
    assert all(family.documentation for family in families.values()), "every family has a HELP line"
    assert samples(families["toex_score_drift"])[(("threat", "cse"),)] == 3
    assert samples(families["toex_label_drift"])[(("threat", "cse"),)] == 1
    assert samples(families["toex_model_labels"]) == {(("threat", threat),): (42 if threat == "cse" else 0)
                                                       for threat in scorer.models}
    assert [families[name].samples[0].value for name in
            ("toex_outbox_pending", "toex_outbox_failing", "toex_outbox_oldest_pending_seconds")] == [7, 2, 312.5]
    # Each channel's queue and its age: a storm in one channel shows there, not as the whole outbox's.
    assert samples(families["toex_outbox_receiver_oldest_pending_seconds"]) == {
        (("receiver", "slack-ersou"),): 312.5, (("receiver", "teams-nwrocu"),): 4.0}
    assert samples(families["toex_outbox_receiver_pending"]) == {
        (("receiver", "slack-ersou"),): 5, (("receiver", "teams-nwrocu"),): 2}


def test_every_new_family_is_written_with_help_and_type_before_anything_is_counted() -> None:
    families = scrape(build_metrics())

    assert {name: family.type for name, family in families.items()} == {
        "toex_consumer_lag": "gauge", "toex_uncommitted_processed": "gauge",
        "toex_stalled_partitions_healed": "counter", "toex_dead_letters": "counter",
        "toex_agent_errors": "counter", "toex_agent_processed": "counter",
        "toex_erased_mentions_withheld": "counter",
    }  # fmt: skip
    text = build_metrics().render(None, None).decode()
    assert "# HELP toex_dead_letters_total Records sent to toex.deadletter" in text
    assert "# TYPE toex_dead_letters_total counter" in text
    assert "_created" not in text, "no creation-time gauge beside each counter"


def test_a_partitions_lag_and_uncommitted_gap_are_served_until_it_is_forgotten() -> None:
    metrics = build_metrics()
    metrics.set_partition("toex.matches", 2, lag=120, gap=3)
    metrics.set_partition("toex.matches", 3, lag=0, gap=0)
    metrics.set_partition("toex.matches", 2, lag=80, gap=0)  # the worker caught up a little; the hole filled

    families = scrape(metrics)
    assert samples(families["toex_consumer_lag"]) == {
        (("partition", "2"), ("topic", "toex.matches")): 80, (("partition", "3"), ("topic", "toex.matches")): 0,
    }  # fmt: skip
    assert samples(families["toex_uncommitted_processed"])[(("partition", "2"), ("topic", "toex.matches"))] == 0

    metrics.forget_partition("toex.matches", 2)  # revoked: another worker reports it now
    metrics.forget_partition("toex.scores", 1)  # never reported: nothing to remove, no error

    families = scrape(metrics)
    assert samples(families["toex_consumer_lag"]) == {(("partition", "3"), ("topic", "toex.matches")): 0}
    assert samples(families["toex_uncommitted_processed"]) == {(("partition", "3"), ("topic", "toex.matches")): 0}


def test_counters_count_what_the_agents_report() -> None:
    metrics = build_metrics()
    metrics.healed("toex.observations")
    metrics.healed("toex.observations")
    metrics.dead_letter("toex.referrals", "invalid_json")
    metrics.dead_letter("toex.adverts", "not_utf8")
    metrics.dead_letter("toex.referrals", "invalid_json")
    metrics.agent_error("match", "database")
    metrics.processed("match")
    metrics.processed("match", n=499)

    families = scrape(metrics)
    assert samples(families["toex_stalled_partitions_healed"]) == {(("topic", "toex.observations"),): 2}
    assert samples(families["toex_dead_letters"]) == {
        (("kind", "invalid_json"), ("topic", "toex.referrals")): 2,
        (("kind", "not_utf8"), ("topic", "toex.adverts")): 1,
    }
    assert samples(families["toex_agent_errors"]) == {(("agent", "match"), ("kind", "database")): 1}
    assert samples(families["toex_agent_processed"]) == {(("agent", "match"),): 500}
    assert families["toex_agent_processed"].samples[0] == Sample(
        "toex_agent_processed_total", {"agent": "match"}, 500.0)


def test_declared_agents_and_topics_start_at_zero_so_the_first_error_is_an_increase() -> None:
    families = scrape(build_metrics(agents=["enrich", "match"], topics=["toex.referrals"]))

    errors = samples(families["toex_agent_errors"])
    assert len(errors) == 2 * 5 and set(errors.values()) == {0}
    assert samples(families["toex_agent_processed"]) == {(("agent", "enrich"),): 0, (("agent", "match"),): 0}
    assert {labels[0][1] for labels in samples(families["toex_dead_letters"])} == {
        "not_utf8", "invalid_json", "schema", "internal"}
    assert samples(families["toex_stalled_partitions_healed"]) == {(("topic", "toex.referrals"),): 0}


@pytest.mark.parametrize("count", [
    lambda metrics: metrics.dead_letter("toex.referrals", "Jane Doe 07700 900123"),
    lambda metrics: metrics.dead_letter("toex.referrals", "undecodable"),  # the contract's word is not_utf8
    lambda metrics: metrics.agent_error("match", "timeout talking to Jane Doe's record"),
    lambda metrics: metrics.dead_letter("jane.doe@example.org", "schema"),
    lambda metrics: metrics.healed("Jane Doe"),
    lambda metrics: metrics.set_partition("toex.matches", -1, lag=0, gap=0),
    lambda metrics: metrics.processed("Jane Doe"),
    lambda metrics: metrics.agent_error("NHP-T-9", "database"),
])
def test_a_label_that_is_not_a_topic_agent_or_known_kind_is_refused_and_not_repeated(count) -> None:
    metrics = build_metrics()
    with pytest.raises(UnsafeLabel) as refused:
        count(metrics)
    assert "Jane" not in str(refused.value) and "NHP" not in str(refused.value), "the refusal may be logged"
    assert all(not family.samples for family in scrape(metrics).values()), "nothing was counted"


def test_each_worker_has_its_own_registry_and_the_global_one_stays_empty_of_ours() -> None:
    first, second = build_metrics(), build_metrics()
    first.processed("score", n=3)

    assert samples(scrape(first)["toex_agent_processed"]) == {(("agent", "score"),): 3}
    assert scrape(second)["toex_agent_processed"].samples == []
    assert prometheus_client.REGISTRY.get_sample_value("toex_agent_processed_total", {"agent": "score"}) is None


def test_the_page_is_served_as_the_text_format_prometheus_client_writes() -> None:
    assert CONTENT_TYPE == prometheus_client.CONTENT_TYPE_LATEST
    assert CONTENT_TYPE.startswith("text/plain; version=")
