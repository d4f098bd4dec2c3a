"""Replay's core without a broker: the same events give the same report; a lower threshold, exactly its extra alerts."""

from __future__ import annotations

import datetime as dt

import pytest

from toex_stream.application.replay.compare import differences, outcomes_of_report
from toex_stream.application.replay.core import (
    InputMessage,
    Replayer,
    canonical_json,
    configuration,
    replay_order,
    summarise,
)
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.tools.simulate import encode, simulate


def simulated_messages(events: int = 160, seed: int = 5) -> list[InputMessage]:
    """A headdress stream as the topics would hold it: arrival time as the message timestamp."""
    messages = []
    for offset, event in enumerate(simulate("headdress", events, seed).events()):
        messages.append(InputMessage(event.topic, event.key.encode(), encode(event.value), offset % 4, offset,
                                     int(event.arrival.timestamp() * 1000)))
    return sorted(messages, key=replay_order)


def replay(messages: list[InputMessage], profiles=None, silences=()) -> tuple[dict, list[dict]]:
    replayer = Replayer(Matcher(), Scorer(profiles or load_profiles()), load_routes(), silences)
    records = list(replayer.run(messages))
    header = {"kind": "replay", "configuration": configuration(replayer.scorer, replayer.routes, replayer.matcher)}
    return header, records


def alert_ids(records: list[dict]) -> set[str]:
    return {a["alert_id"] for r in records for a in r["alerts"]}


def latest_alerts(records: list[dict]) -> dict[str, dict]:
    return {a["alert_id"]: a["alert"] for r in records for a in r["alerts"]}


@pytest.fixture(scope="module")
def messages() -> list[InputMessage]:
    return simulated_messages()


@pytest.fixture(scope="module")
def first(messages):
    return replay(messages)


def test_the_same_events_replayed_twice_give_the_same_report_byte_for_byte(messages, first):
    _, again = replay(messages)

    assert [canonical_json(r) for r in again] == [canonical_json(r) for r in first[1]]
    summary = summarise(first[1])
    assert summary["events"] == len(messages) and summary["distinct_alerts"] > 0, summary


def test_each_event_record_explains_itself(first):
    records = first[1]
    matched = next(r for r in records if r["scores"] and r["matches"])
    match = matched["matches"][0]
    assert {"decision", "nominal_id", "probability", "prior_weight", "weights", "model_version"} <= match.keys()
    score = matched["scores"][0]
    assert score["reasons"] and all(reason["text"] for reason in score["reasons"])
    alerted = next(r for r in records if r["alerts"])
    assert {"action", "alert_id", "band", "region", "route", "receiver", "notify_at"} <= alerted["alerts"][0].keys()
    # No wall-clock time: the dead letter's failed_at and the store's decided_at are not in the report.
    assert "failed_at" not in canonical_json(records[0]) and "decided_at" not in canonical_json(records[0])


def test_a_lower_threshold_opens_alerts_sooner_or_adds_them_and_the_comparison_blames_the_profile(messages, first):
    header, records = first
    profiles = load_profiles()
    msht = profiles["msht"]
    lowered = msht.model_copy(update={"bands": msht.bands.model_copy(update={"high": 0.4})})
    lower_header, lower = replay(messages, profiles | {"msht": lowered})

    before, after = alert_ids(records), alert_ids(lower)
    assert before <= after, "every alert stays: the same situations give the same ids"
    final = latest_alerts(lower)
    for alert_id in after - before:
        bands = final[alert_id]["bands"]
        assert "msht" in bands and lowered.alerts(bands["msht"]), "each extra alert is a situation msht now lifts"

    def opened(report: list[dict]) -> dict[str, int]:
        return {a["alert_id"]: i for i, r in reversed(list(enumerate(report))) for a in r["alerts"]
                if a["action"] == "open"}

    sooner = {alert_id for alert_id, at in opened(lower).items() if at < opened(records).get(alert_id, len(records))}
    assert sooner, "the lower threshold opens some situation's alert sooner"
    assert all(opened(lower)[a] <= at for a, at in opened(records).items()), "and none later"

    found = differences(outcomes_of_report([lower_header, *lower]), outcomes_of_report([header, *records]))
    extra = {d["alert_id"] for d in found if d["what"] == "alert" and d["recorded"] is None}
    assert extra == after - before
    assert {d["alert_id"] for d in found if d["what"] == "alert"} >= sooner
    assert all(d["causes"] == ["profile"] for d in found), {tuple(d["causes"]) for d in found}
    assert {d["what"] for d in found} == {"score", "alert"}  # the matches are the same


def test_a_recorded_silence_mutes_only_the_messages_that_arrived_while_it_lasted(messages, first):
    records = first[1]
    # From the first alert that is not critical, a silence on its threat.
    at, threat = next((r["event"]["timestamp"], a["alert"]["threat"]) for r in records for a in r["alerts"]
                      if a["band"] != "critical")
    starts = dt.datetime.fromisoformat(at)
    silence = Silence("sil-test", {"threat": threat}, starts_at=starts, ends_at=starts + dt.timedelta(days=7),
                      created_by="analyst-1")
    _, silenced = replay(messages, silences=[silence])

    for plain, quiet in zip(records, silenced, strict=True):
        arrived = dt.datetime.fromisoformat(plain["event"]["timestamp"])
        if arrived < starts:
            assert quiet["alerts"] == plain["alerts"]
        elif arrived < silence.ends_at:
            # Muted: nothing of that threat reaches a team unless it is critical (or about a child).
            assert all(a["band"] == "critical" for a in quiet["alerts"] if a["alert"]["threat"] == threat)
    assert any(q["why"] == "silenced by sil-test" for r in silenced for q in r["suppressed"])
    assert alert_ids(silenced) != alert_ids(records) or latest_alerts(silenced) != latest_alerts(records)


def test_provisional_nominals_published_live_during_the_range_are_not_taken_from_the_topic():
    replayer = Replayer(Matcher(), Scorer(load_profiles()), load_routes())
    nominal = contract.Nominal(schema_version=1, nominal_id="prov-1", given_name="Ana", family_name="Pop",
                               flags=["provisional"], updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc))
    known = nominal.model_copy(update={"nominal_id": "WMP-1", "flags": []})
    replayer.follow_nominal(b"prov-1", nominal.model_dump_json().encode())
    replayer.follow_nominal(b"WMP-1", known.model_dump_json().encode())
    assert set(replayer.matcher.index.positions) == {"WMP-1"}
    replayer.follow_nominal(b"WMP-1", None)
    assert len(replayer.matcher.index) == 0


# -- the command line's errors, before any broker is needed ------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "yesterday", "--to", "2026-11-25T10:00Z"], "--from 'yesterday' is not a time"),
    (["--from", "2026-11-25T10:00Z", "--to", "2026-11-25T09:00Z"], "is not before --to"),
    (["--from", "2026-11-25T08:00Z", "--to", "2026-11-25T09:00Z", "--topics", "toex.scores"],
     "replay reads input topics only"),
    (["--from", "2026-11-25T08:00Z", "--to", "2026-11-25T09:00Z"], "cannot reach Kafka"),
])
def test_the_command_says_what_is_wrong_and_how_to_put_it_right(tmp_path, args, message):
    from tests.unit.test_cli import NO_BROKER, toex
    from tests.users_helpers import signed_in

    env = signed_in(NO_BROKER | {"TOEX_DATA_DIR": str(tmp_path)}, tmp_path / "session", "analyst-1")
    done = toex("replay", *args, "--reason", "a test", "--out", str(tmp_path / "r.jsonl"), env=env)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_an_output_without_a_known_suffix_needs_a_format(tmp_path):
    from tests.unit.test_cli import NO_BROKER, toex

    done = toex("replay", "--from", "2026-11-25T08:00Z", "--to", "2026-11-25T09:00Z", "--reason", "x",
                "--out", str(tmp_path / "r.out"), env=NO_BROKER | {"TOEX_DATA_DIR": str(tmp_path)})
    assert done.returncode == 1 and "use .jsonl or .csv, or --format" in done.stderr


def test_history_replayed_before_the_range_gives_the_range_the_records_of_a_replay_from_the_start(messages, first):
    middle = messages[len(messages) // 2]
    replayer = Replayer(Matcher(), Scorer(load_profiles()), load_routes())
    tail = list(replayer.run(messages, report_from_ms=middle.timestamp_ms))

    expected = [r for m, r in zip(messages, first[1], strict=True) if m.timestamp_ms >= middle.timestamp_ms]
    assert [canonical_json(r) for r in tail] == [canonical_json(r) for r in expected]
    _, cold = replay([m for m in messages if m.timestamp_ms >= middle.timestamp_ms])
    assert cold != tail, "without the history, the nominals' states start empty and score differently"
