"""Alerts from the live pipeline: a child referral reaches its region's Slack channel once, marked and without names."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import scrape, send, with_ids
from tests.users_helpers import signed_in
from toex_stream.adapters.kafka_io import TopicReader, durable_producer
from toex_stream.domain import contract

pytestmark = pytest.mark.integration


def child_referral_alerts(kafka, referral: dict, tag: str) -> tuple[dict, list[contract.Alert]]:
    """Send a referral about a child (always critical); the alerts about it on toex.alerts, within 90 s."""
    event = with_ids(referral, tag)
    event["subject_is_child"] = True
    producer = durable_producer(kafka.kafka_bootstrap)
    found: list[contract.Alert] = []
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_ALERTS]) as alerts:
        send(producer, contract.TOPIC_REFERRALS, event)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not found:
            found += [alert for alert in (contract.Alert.model_validate_json(m.value()) for m in alerts.poll(0.5))
                      if any(ref.key.endswith(event["referral_id"]) for ref in alert.event_refs)]
    return event, found


def test_a_child_referral_alerts_its_region_once_without_personal_data(kafka, worker, referral, fake_slack, tmp_path):
    event, found = child_referral_alerts(kafka, referral, "child")
    assert found, "an alert on toex.alerts"
    alert = found[0]
    assert (alert.band, alert.region) == ("critical", "ROCUWM")  # the example is in Birmingham

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not fake_slack.alert_posts(alert.alert_id):
        time.sleep(0.5)
    posts = fake_slack.alert_posts(alert.alert_id)
    assert len(posts) == 1, "posted once"
    text = str(posts[0])
    assert "OFFICIAL-SENSITIVE" in text and "ROCUWM" in text
    subject = referral["subjects"][0]
    for personal in (subject["family_name"], subject["given_name"], subject["date_of_birth"], "7700"):
        assert personal not in text, f"{personal!r} must not reach the channel"
    assert posts[0]["channel"] == fake_slack.channels.get("#toex-rocuwm", posts[0]["channel"])
    # The operator sees the outbox on the metrics page: an alert stuck there has reached nobody.
    page = scrape(kafka.web_port)
    assert page is not None
    backlog = {name: value for name, value in page.items() if name.startswith("toex_outbox_")}
    overall = {"toex_outbox_pending", "toex_outbox_failing", "toex_outbox_oldest_pending_seconds"}
    # Per receiver (a label) only while something waits for it.
    assert overall <= set(backlog) <= overall | {
        f'{family}{{receiver="slack-rocuwm"}}'
        for family in ("toex_outbox_receiver_pending", "toex_outbox_receiver_oldest_pending_seconds")}
    assert backlog["toex_outbox_failing"] == 0 and backlog["toex_outbox_oldest_pending_seconds"] >= 0

    # The team closes it with an outcome: the channel's message is edited, and the scorer learns from it.
    from tests.unit.test_cli import toex
    from toex_stream.adapters.settings import settings_env

    env = signed_in(settings_env(kafka) | {"COLUMNS": "220"}, tmp_path / "session", "analyst-9", "analyst", "ROCUWM")
    listed = toex("alerts", "list", "--region", "ROCUWM", env=env)
    assert listed.returncode == 0 and alert.alert_id in listed.stdout, listed.stderr
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_TRAINING]) as training:
        closed = toex("alerts", "close", alert.alert_id, "--outcome", "safeguarded", "--reason", "visit done", env=env)
        assert closed.returncode == 0, closed.stderr
        examples: list[contract.TrainingExample] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not examples:
            examples += [e for e in (contract.TrainingExample.model_validate_json(m.value())
                                     for m in training.poll(0.5))
                         if e.nominal_id in alert.nominal_ids]
    assert examples and all(e.label and e.outcome == "safeguarded" for e in examples)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not fake_slack.successful_calls("chat.update"):
        time.sleep(0.5)
    assert any(alert.alert_id in str(call) for call in fake_slack.successful_calls("chat.update"))
    assert len(fake_slack.alert_posts(alert.alert_id)) == 1, "an edit and a thread reply, never a second post"
    # The s.62 log has it all: the post disclosed, the listing consulted, the close with who and why; unbroken.
    from toex_stream.adapters.sql.audit import entries, verify
    from toex_stream.adapters.sql.store import build_engine

    engine = build_engine(kafka)
    about = [(e.record.category, e.record.action, e.record.actor, e.record.why) for e in entries(engine)
             if alert.alert_id in (e.record.subject, *e.record.what.split(": ")[-1].split(", "))]
    assert ("disclosure", "chat.posted", "system:sender", "") in about
    assert ("consultation", "alerts.listed", "analyst-9", "review of the alert queue") in about
    assert ("alteration", "alert.closed", "analyst-9", "visit done") in about
    assert verify(engine, kafka.audit_head_path).ok


def test_a_silence_set_from_the_command_line_never_mutes_a_child_and_says_who_ended_it(
        kafka, worker, referral, fake_slack, tmp_path):
    """Muting itself is in tests/unit/test_agents.py (a high alert about an adult, and what was muted kept)."""
    from tests.unit.test_cli import toex
    from toex_stream.adapters.settings import settings_env

    env = signed_in(settings_env(kafka), tmp_path / "session", "supervisor-2", "supervisor", "ROCUWM")
    ender = signed_in(settings_env(kafka), tmp_path / "other-session", "supervisor-5", "supervisor", "ROCUWM")
    too_long = toex("silences", "add", "--region", "ROCUWM", "--hours", "169", env=env)
    assert too_long.returncode == 1 and "at most 168 hours" in too_long.stderr
    added = toex("silences", "add", "--region", "ROCUWM", "--threat", "cse", "--hours", "1",
                 "--comment", "operation under way", env=env)
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.split()[0]
    time.sleep(6)  # the agent re-reads silences every 5 s
    try:
        event = with_ids(referral, "silenced")
        event["subject_is_child"] = True
        event["exploitation_types"] = ["sexual"]
        producer = durable_producer(kafka.kafka_bootstrap)
        with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_ALERTS]) as alerts:
            send(producer, contract.TOPIC_REFERRALS, event)
            seen: list[contract.Alert] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any("cse" in a.threats for a in seen):
                seen += [a for a in (contract.Alert.model_validate_json(m.value()) for m in alerts.poll(0.5))
                         if any(r.key.endswith(event["referral_id"]) for r in a.event_refs)]
        assert any("cse" in a.threats and a.band == "critical" for a in seen), "an alert about a child is never muted"
    finally:
        assert toex("silences", "expire", silence_id, "--reason", "operation over", env=ender).returncode == 0
    muted = toex("silences", "muted", silence_id, env=env)
    assert muted.returncode == 0 and f"0 alert(s) muted by {silence_id}" in muted.stdout
    listed = toex("silences", "list", env=env)
    line = next(line for line in listed.stdout.splitlines() if silence_id in line)
    assert "ended" in line and "by supervisor-2" in line and "ended by supervisor-5" in line


def test_acknowledging_from_the_command_line_replies_in_the_alerts_slack_thread(kafka, worker, referral, fake_slack,
                                                                                tmp_path):
    """The lifecycle's update goes out through the worker's sender: a marked reply, versioned in seconds."""
    from tests.unit.test_cli import toex
    from toex_stream.adapters.settings import settings_env

    event, found = child_referral_alerts(kafka, referral, "acknowledged")
    assert found, "an alert on toex.alerts"
    alert = found[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not fake_slack.alert_posts(alert.alert_id):
        time.sleep(0.5)
    [post] = fake_slack.alert_posts(alert.alert_id)

    before = int(time.time())
    env = signed_in(settings_env(kafka), tmp_path / "session", "analyst-4", "analyst", "ROCUWM")
    acked = toex("alerts", "ack", alert.alert_id, "--reason", "in my queue", env=env)
    assert acked.returncode == 0, acked.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not fake_slack.replies(post["ts"]):
        time.sleep(0.5)
    [reply] = fake_slack.replies(post["ts"])
    assert reply["text"] == f"[OFFICIAL-SENSITIVE] Update on {alert.alert_id}: acknowledged by analyst-4"
    version = reply["metadata"]["event_payload"]["version"]
    assert before <= version <= int(time.time()), "seconds, as the agent's versions"
