"""Replay against the live pipeline: the range gives the live decisions and the same situations' alerts, byte for
byte; a lower threshold changes alerts, each put down to the profile.

The session worker serves every integration test and the topics are shared:
this test's events carry ids no other test uses, are sent one by one (so the
live worker, like the replay, takes them in arrival order) and nothing else is
sent while they are, so the time range holds them alone. The sandbox loads
toex.nominals as it stood before the range, which holds every provisional
nominal the live worker published for earlier tests: both sides match against
the same people.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.users_helpers import signed_in
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, produce_and_wait
from toex_stream.adapters.settings import settings_env
from toex_stream.adapters.sql.audit import entries
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.replay_audit import replays
from toex_stream.adapters.sql.store import build_engine
from toex_stream.application.replay.core import canonical_json
from toex_stream.domain import contract
from toex_stream.domain.enrich import enrich
from toex_stream.tools.simulate import encode, simulate

pytestmark = pytest.mark.integration

EVENTS = 60
LIVE_OUTPUTS = [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES, contract.TOPIC_SCORES, contract.TOPIC_ALERTS,
                contract.TOPIC_NOMINALS, contract.TOPIC_DEADLETTER]


def unique_events(tag: str) -> list[tuple[str, bytes, bytes]]:
    """A headdress stream (topic, key, value) whose event ids no other test uses."""
    out = []
    for event in simulate("headdress", EVENTS, seed=8108).events():
        value = dict(event.value)
        for field in ("referral_id", "advert_id", "intel_id"):
            if field in value:
                value[field] = f"{value[field]}-{tag}"
        model = contract.TOPIC_MODELS[event.topic].model_validate(value, strict=False)
        out.append((event.topic, contract.event_key(model).encode(), encode(value)))  # type: ignore[arg-type]  # an input topic's model
    return out


def toex_replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``toex-stream replay ARGS`` with ``env`` (the settings, and the session of who runs it)."""
    result = subprocess.run(
        [sys.executable, "-c", "from toex_stream.entry.cli import main; main()", "replay", *args],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env, "COLUMNS": "200"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def read_report(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class LiveOutputs:
    """What the live pipeline wrote about this test's events: matches, scores and alerts."""

    def __init__(self, reader: TopicReader, tag: str) -> None:
        self.reader, self.tag = reader, tag
        self.matches: list[contract.MatchResult] = []
        self.scores: list[contract.Score] = []
        self.alerts: list[contract.Alert] = []
        self.last_seen = time.monotonic()

    def poll(self) -> None:
        for message in self.reader.poll(timeout=0.2):
            model = contract.TOPIC_MODELS[message.topic()].model_validate_json(message.value())
            refs = model.event_refs if isinstance(model, contract.Alert) else [model.event_ref]
            if any(self.tag in ref.key for ref in refs):
                getattr(self, message.topic().removeprefix("toex.")).append(model)
                self.last_seen = time.monotonic()

    def wait_for_matches(self, mentions: set[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not mentions <= {m.mention_id for m in self.matches} and time.monotonic() < deadline:
            self.poll()

    def wait_for_scores(self, mentions: set[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not mentions <= {s.mention_id for s in self.scores} and time.monotonic() < deadline:
            self.poll()

    def wait_until_quiet(self, quiet_s: float = 6.0, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() - self.last_seen < quiet_s and time.monotonic() < deadline:
            self.poll()


def differences_of(report: list[dict]) -> list[dict]:
    return [r for r in report if r["kind"] == "difference"]


def latest_alerts(records: list[dict]) -> dict[str, dict]:
    """Each alert's latest state in a report (its records are in order)."""
    return {a["alert_id"]: a["alert"] for r in records if r["kind"] == "event" for a in r["alerts"]}


def assert_the_lower_threshold_is_blamed(replayed: list[dict], lowered: list[dict], threat: str) -> None:
    """``lowered`` (a report with a lower threshold for ``threat``) keeps every alert, changes some, all explained."""
    before, after = latest_alerts(replayed), latest_alerts(lowered)
    assert before.keys() <= after.keys(), "the same situations keep their alerts"
    changed = {a for a in after if after[a] != before.get(a)}
    assert changed, "the lower threshold changes some alert (opens it sooner, adds it, or raises its band)"
    assert all(threat in after[a]["bands"] for a in changed)
    found = differences_of(lowered)
    assert {d["alert_id"] for d in found if d["what"] == "alert"} == changed, "the comparison lists exactly those"
    assert {tuple(d["causes"]) for d in found} == {("profile",)}


def test_replay_gives_the_live_decisions_and_alerts_and_a_lower_threshold_is_blamed_for_what_it_changes(
        kafka, worker, tmp_path):
    tag = f"rp{uuid.uuid4().hex[:10]}"
    events = unique_events(tag)
    producer = durable_producer(kafka.kafka_bootstrap)
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES, contract.TOPIC_SCORES,
                                             contract.TOPIC_ALERTS]) as reader:
        live = LiveOutputs(reader, tag)
        start = dt.datetime.now(dt.timezone.utc)
        for offset, (topic, key, value) in enumerate(events):
            observation = enrich(topic, key, value, partition=0, offset=offset)
            assert isinstance(observation, contract.Observation)
            produce_and_wait(producer, topic, key, value)
            # One at a time: the live match agent then takes them in the order they arrived, as replay
            # does (with a backlog, it interleaves the partitions of toex.observations in its own order).
            live.wait_for_matches({m.mention_id for m in observation.mentions})
            # ...and scored: the situation step's input went out with the scores, in this event's turn.
            live.wait_for_scores({m.mention_id for m in observation.mentions})
        end = dt.datetime.now(dt.timezone.utc)
        live.wait_until_quiet()
    matches, scores, alerts = live.matches, live.scores, live.alerts
    assert len({m.mention_id for m in matches}) == sum(len(m.mentions) for m in [
        enrich(t, k, v, partition=0, offset=0) for t, k, v in events]), "the live pipeline matched every mention"
    assert scores and alerts, "the live pipeline scored and alerted"

    engine = build_engine(kafka)
    outbox_before = len(Outbox(engine).items())
    window = ["--from", start.isoformat(), "--to", end.isoformat()]
    env = signed_in(settings_env(kafka), tmp_path / "session", "analyst-7", "analyst", "national")
    with TopicReader(kafka.kafka_bootstrap, LIVE_OUTPUTS) as live_outputs:
        first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
        ran = toex_replay(env, *window, "--reason", f"why did {tag} alert",
                          "--out", str(first), "--compare", "live")
        toex_replay(env, *window, "--reason", "determinism", "--out", str(second), "--compare", "live")

        profile = tmp_path / "missing-lower.yaml"
        original = (resources.files("toex_stream") / "data" / "profiles" / "missing.yaml").read_text(encoding="utf-8")
        assert "  medium: 0.35\n  high: 0.6\n" in original
        # Low enough that the headdress people (no one flagged missing) come out medium and high under it.
        profile.write_text(original.replace("  medium: 0.35\n  high: 0.6\n", "  medium: 0.01\n  high: 0.03\n"),
                           encoding="utf-8")
        lower = tmp_path / "lower.jsonl"
        toex_replay(env, *window, "--reason", "a lower missing threshold", "--profile", str(profile),
                    "--out", str(lower), "--compare", "live")
        lower_vs_first = tmp_path / "lower-vs-first.jsonl"
        toex_replay(env, *window, "--reason", "against the first", "--profile", str(profile),
                    "--out", str(lower_vs_first), "--compare", str(first))
        # The second half alone, with the first replayed as history: the same as live; without it, not.
        middle = read_report(first)[1 + len(events) // 2]["event"]["timestamp"]
        history = f"{int((dt.datetime.fromisoformat(middle) - start).total_seconds()) + 2}s"
        half, cold_half = tmp_path / "half.jsonl", tmp_path / "cold-half.jsonl"
        toex_replay(env, "--from", middle, "--to", end.isoformat(), "--history", history, "--reason", "half",
                    "--out", str(half), "--compare", "live")
        toex_replay(env, "--from", middle, "--to", end.isoformat(), "--reason", "half, no history",
                    "--out", str(cold_half), "--compare", "live")
        table = toex_replay(env, *window, "--reason", "for the terminal", "--format", "table")
        csv_out = tmp_path / "first.csv"
        toex_replay(env, *window, "--reason", "as CSV", "--out", str(csv_out))
        # A replay that fails half-way (its comparison is no report) leaves no report, and is audited as failed.
        not_a_report = tmp_path / "not-a-report.jsonl"
        not_a_report.write_text("not json\n", encoding="utf-8")
        broken = tmp_path / "broken.jsonl"
        failed = subprocess.run(
            [sys.executable, "-c", "from toex_stream.entry.cli import main; main()", "replay", *window,
             "--reason", f"{tag} broken comparison", "--out", str(broken), "--compare", str(not_a_report)],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=240)
        time.sleep(2)
        written = live_outputs.poll(timeout=2.0)
    assert written == [], "a replay writes nothing to the live topics"
    assert len(Outbox(engine).items()) == outbox_before, "nor to the outbox"

    # Determinism: the same range twice gives the same report, byte for byte.
    assert first.read_bytes() == second.read_bytes()
    report = read_report(first)
    header, summary = report[0], report[-1]
    replayed = [r for r in report if r["kind"] == "event"]
    assert header["kind"] == "replay" and summary["kind"] == "summary"
    assert len(replayed) == len(events) and all(tag in r["event"]["key"] for r in replayed), "the range holds ours"
    assert ("summary" in ran.stdout or "events" in ran.stdout) and "alert" in table.stdout
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == len(events) + 1

    # The same decisions as live: matches, score bands and values, alerts.
    differences = [r for r in report if r["kind"] == "difference"]
    assert differences == [], differences[:5]
    live_matches = {m.mention_id: (m.decision, m.nominal_id, m.review_nominal_id) for m in matches}
    replay_matches = {m["mention_id"]: (m["decision"], m["nominal_id"], m["review_nominal_id"])
                      for r in replayed for m in r["matches"]}
    assert replay_matches == live_matches
    live_scores = {(s.mention_id, s.threat): (s.band, s.risk_score, s.model_version) for s in scores}
    replay_scores = {(s["mention_id"], s["threat"]): (s["band"], s["risk_score"], s["model_version"])
                     for r in replayed for s in r["scores"]}
    assert replay_scores == live_scores
    # The same situations and alerts, byte for byte: each alert's latest state, live and replayed.
    live_latest: dict[str, contract.Alert] = {}
    for alert in alerts:
        if alert.alert_id not in live_latest or alert.version >= live_latest[alert.alert_id].version:
            live_latest[alert.alert_id] = alert
    replay_latest = latest_alerts(replayed)
    assert replay_latest.keys() == live_latest.keys()
    for alert_id, alert in live_latest.items():
        assert canonical_json(replay_latest[alert_id]) == canonical_json(alert.model_dump(mode="json")), alert_id
    situations = {a.situation_id for a in live_latest.values()}
    assert None not in situations and situations == {a["situation_id"] for a in replay_latest.values()}
    assert all(a.members and a.event_refs for a in live_latest.values())

    # A lower threshold: more alerts, each put down to the profile, and the comparison lists exactly the extra ones.
    lowered = read_report(lower)
    assert_the_lower_threshold_is_blamed(replayed, lowered, threat="missing")
    against_first = read_report(lower_vs_first)
    first_difference = next(((i, canonical_json(a), canonical_json(b)) for i, (a, b) in enumerate(zip(
        [r for r in against_first if r["kind"] == "event"], [r for r in lowered if r["kind"] == "event"],
        strict=True)) if a != b), None)
    assert first_difference is None, first_difference
    assert differences_of(against_first) == differences_of(lowered), "live and the first replay agree"

    halves = read_report(half)
    assert [r for r in halves if r["kind"] == "event"] == replayed[len(events) // 2:]
    assert differences_of(halves) == []
    assert {c for d in differences_of(read_report(cold_half)) for c in d["causes"]} <= {"state", "match", "nominals"}
    assert differences_of(read_report(cold_half)), "without its history a nominal's state starts empty"

    # Every replay is audited: who, range, reason; written when it starts, completed when it ends.
    audited = [a for a in replays(engine) if a.reason == f"why did {tag} alert"]
    assert len(audited) == 1
    assert audited[0].who == "analyst-7" and audited[0].events == len(events)
    assert audited[0].status == "finished" and audited[0].finished_at is not None
    assert failed.returncode != 0
    assert not broken.exists() and not broken.with_name(broken.name + ".partial").exists()
    [failure] = [a for a in replays(engine) if a.reason == f"{tag} broken comparison"]
    assert failure.status == "failed" and failure.events == len(events)
    # Reports hold personal data: their owner alone may read them.
    assert {oct(p.stat().st_mode & 0o777) for p in (first, second, csv_out, half)} == {"0o600"}
    assert audited[0].range_from == start and audited[0].topics == list(contract.INPUT_TOPICS)
    # ...and in the s.62 log, as a consultation by the person, with the reason they gave.
    consulted = [e.record for e in entries(engine)
                 if e.record.action == "replay.started" and e.record.why == f"why did {tag} alert"]
    assert [(r.category, r.actor) for r in consulted] == [("consultation", "analyst-7")]
