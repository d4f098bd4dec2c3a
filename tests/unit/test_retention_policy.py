"""The retention policy: every category stated with its period and reason, the topics' retention set from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from toex_stream.adapters import topics
from toex_stream.domain.retention import CATEGORIES, RetentionError, load_retention, parse_retention

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)
BUNDLED = Path(__file__).resolve().parents[2] / "toex_stream" / "data" / "retention.yaml"


def _bundled_document() -> dict:
    return yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))


def _text(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def test_the_bundled_policy_states_every_category_with_a_reason() -> None:
    policy = load_retention()
    assert set(policy.periods) == set(CATEGORIES)
    assert all(len(period.reason) > 40 for period in policy.periods.values())
    assert policy.period("provisional_nominals").days == 180
    assert policy.due_before("match_decisions", NOW) == NOW - dt.timedelta(days=365)


def test_training_examples_are_kept_as_long_as_the_model_needs_them_and_say_why() -> None:
    policy = load_retention()
    training = policy.period("training_examples")
    assert training.days is None and training.describe() == "as long as the model needs them"
    assert "toex.training" in training.reason and "same model" in training.reason
    assert policy.due_before("training_examples", NOW) is None
    assert policy.retention_ms("training_examples") == -1


def test_a_file_of_ones_own_is_read(tmp_path: Path) -> None:
    document = _bundled_document()
    document["categories"]["alerts"]["days"] = 400
    path = tmp_path / "retention.yaml"
    path.write_text(_text(document), encoding="utf-8")
    policy = load_retention(path)
    assert policy.period("alerts").days == 400
    assert policy.why("alerts") == "retention: alerts older than 400 days"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(referals=c.pop("referrals")), "unknown category 'referals'"),
        (lambda c: c.pop("receipts"), "missing category 'receipts'"),
        (lambda c: c["adverts"].pop("days"), "adverts: missing 'days'"),
        (lambda c: c["adverts"].update(days=-5), "categories.adverts.days: days must be at least 1, not -5"),
        (lambda c: c["adverts"].update(days=0), "days must be at least 1, not 0"),
        (lambda c: c["adverts"].update(days="ninety"), "days must be a whole number, not 'ninety'"),
        (lambda c: c["adverts"].update(days=1.5), "days must be a whole number, not 1.5"),
        (lambda c: c["alerts"].update(days="model"), "is for training_examples only"),
        (lambda c: c["alerts"].pop("reason"), "alerts: missing 'reason'"),
        (lambda c: c["alerts"].update(reason="  "), "alerts: missing 'reason'"),
        (lambda c: c["alerts"].update(dayz=3), "categories.alerts.dayz: unknown key 'dayz'"),
        (lambda c: c["match_decisions"].update(days=30),
         "match_decisions (30 days) must be kept at least as long as provisional_nominals (180 days)"),
    ],
)
def test_a_wrong_file_is_refused_naming_the_problem_and_its_line(change, message: str) -> None:
    document = _bundled_document()
    change(document["categories"])
    with pytest.raises(RetentionError) as error:
        parse_retention(_text(document), "mine.yaml")
    assert message in str(error.value)
    assert "mine.yaml:" in str(error.value)


def test_a_file_that_is_not_a_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RetentionError, match="'categories' must be a mapping"):
        parse_retention("categories: [1, 2]", "mine.yaml")
    with pytest.raises(RetentionError, match="found an empty file"):
        parse_retention("", "mine.yaml")
    with pytest.raises(RetentionError, match="cannot read retention file .*TOEX_RETENTION_FILE"):
        load_retention(tmp_path / "absent.yaml")


def test_the_topics_retention_comes_from_the_policy() -> None:
    document = _bundled_document()
    document["categories"]["adverts"]["days"] = 7
    policy = parse_retention(_text(document), "mine.yaml")
    specs = {spec.name: spec for spec in topics.with_retention(topics.ALL, policy)}
    assert specs["toex.adverts"].config()["retention.ms"] == str(7 * topics.DAY_MS)
    assert specs["toex.referrals"].config()["retention.ms"] == str(365 * topics.DAY_MS)
    assert specs["toex.training"].config()["retention.ms"] == "-1"
    assert specs["toex.feedback"].config()["retention.ms"] == str(730 * topics.DAY_MS)
    # Compacted: its records stay until a tombstone erases them (provisional ones: the retention run's).
    assert "retention.ms" not in specs["toex.nominals"].config()
    # Every delete-policy topic says which category it holds: none keeps the broker's default by accident.
    assert all(spec.retention is not None for spec in topics.ALL if spec.cleanup_policy == "delete")


def test_topics_declared_without_a_policy_take_the_bundled_periods() -> None:
    assert topics.ADVERTS.config()["retention.ms"] == str(180 * topics.DAY_MS)
