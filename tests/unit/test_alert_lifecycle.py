"""The alert lifecycle: acknowledge, assign and close tell each channel the alert went to, in its own form.

An alert is created here as the situate agent creates it (``toex_stream.application.alert_lifecycle.queue_alert``
with the decisions the routes file gives), in a SQLite outbox. The routes send
ERSOU alerts to a Teams channel (not cleared for personal data) and to a Slack
channel cleared to see nominal ids. What an analyst does from the command line
(or, later, the dashboard) must reach each of them as the agent would write it:
a marked Adaptive Card for Teams, the nominal ids only where allowed, and the
outbox version in seconds.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from tests.unit.test_cli import toex
from tests.users_helpers import add_user, signed_in
from toex_stream.adapters.kafka_io import KafkaUnavailable
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.application.alert_lifecycle import AlertLifecycle, queue_alert
from toex_stream.domain.alerting.decide import AlertDecision
from toex_stream.domain.alerting.routes_file import RoutesFile, load_routes
from toex_stream.domain.contract import Alert, EventRef, Feedback, Reason
from toex_stream.domain.errors import ToexError
from toex_stream.ports.alerts import OutboxItem

AT = dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.timezone.utc)
ALERT_ID = "ALERT-ERSOU-0001"
NOMINAL = "KNT-N-1"
TEAMS = "teams-ersou"
CLEARED = "slack-ersou-cleared"
ROUTES = """\
receivers:
  - name: log
    kind: log
  - name: teams-ersou
    kind: teams
    webhook_setting: TOEX_TEAMS_WEBHOOK_ERSOU
  - name: slack-ersou-cleared
    kind: slack
    channel: "#toex-ersou-cleared"
    include_personal_data: true
route:
  receiver: log
  routes:
    - name: ersou-teams
      match: {region: ERSOU}
      receiver: teams-ersou
      continue: true
    - name: ersou-cleared
      match: {region: ERSOU}
      receiver: slack-ersou-cleared
"""


def make_alert() -> Alert:
    return Alert(
        schema_version=1, alert_id=ALERT_ID, created_at=AT, region="ERSOU", force_code="kent", threat="msht",
        band="high", risk_score=0.82, nominal_ids=[NOMINAL],
        event_refs=[EventRef(topic="toex.adverts", key=f"adfeed:{i}") for i in range(3)],
        reasons=[Reason(feature="phone_towns_7d", contribution=0.41, text="one phone in adverts in 4 towns this week")],
        model_version="msht@v1/l0",
    )


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    return path


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The database ``sqlite_engine`` migrated, for the command line to use."""
    return f"sqlite:///{tmp_path / 'toex.sqlite3'}"


@pytest.fixture
def outbox(sqlite_engine: Engine) -> Outbox:
    return Outbox(sqlite_engine)


@pytest.fixture
def alert(outbox: Outbox, routes_file: Path) -> Alert:
    """An alert the agent stored and queued for both ERSOU receivers, as it does for every route a score matches."""
    alert = make_alert()
    labels = {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": NOMINAL}
    matches = load_routes(routes_file).match(labels)
    assert sorted(m.receiver.name for m in matches) == [CLEARED, TEAMS]
    score = SimpleNamespace(occurred_at=AT)  # the agent reads only the score's event time
    for match in matches:
        decision = AlertDecision(action="open", alert=alert, route=match, notify_at=AT + dt.timedelta(seconds=30))
        queue_alert(outbox, decision, score, now=AT)
    return alert


def posts(outbox: Outbox) -> dict[str, OutboxItem]:
    return {item.receiver: item for item in outbox.items(ALERT_ID) if item.kind == "post"}


def updates(outbox: Outbox, receiver: str) -> list[OutboxItem]:
    return [item for item in outbox.items(ALERT_ID) if item.kind == "update" and item.receiver == receiver]


def card_texts(payload: dict) -> list[str]:
    """The TextBlocks of a Teams workflow message's Adaptive Card, in order."""
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return [block["text"] for block in attachment["content"]["body"] if block["type"] == "TextBlock"]


def card_facts(payload: dict) -> dict[str, str]:
    body = payload["attachments"][0]["content"]["body"]
    return {fact["title"]: fact["value"] for block in body if block["type"] == "FactSet" for fact in block["facts"]}


# -- from the command line ------------------------------------------------------------------


def test_acknowledging_from_the_command_line_tells_each_channel_in_its_own_form(alert, outbox, routes_file,
                                                                                 database_url, tmp_path):
    env = {"TOEX_DATABASE_URL": database_url, "TOEX_DATA_DIR": str(tmp_path), "TOEX_ROUTES_FILE": str(routes_file)}
    env = signed_in(env, tmp_path / "session", "analyst-7", "analyst", "ERSOU")
    before = int(time.time())
    result = toex("alerts", "ack", ALERT_ID, "--reason", "in the ERSOU queue", env=env)
    after = int(time.time())
    assert result.returncode == 0, result.stderr

    [teams] = updates(outbox, TEAMS)
    texts = card_texts(teams.payload)
    assert texts[0] == texts[-1] == "OFFICIAL-SENSITIVE", "marked at its top and bottom"
    assert "Update: acknowledged by analyst-7" in texts
    assert card_facts(teams.payload)["Status"] == "acknowledged"
    assert NOMINAL not in str(teams.payload), "the Teams channel is not cleared for nominal ids"

    [cleared] = updates(outbox, CLEARED)
    assert NOMINAL in str(cleared.payload["blocks"]), "the cleared channel sees the nominal ids, as in its post"
    assert cleared.payload["reply"]["text"] == f"[OFFICIAL-SENSITIVE] Update on {ALERT_ID}: acknowledged by analyst-7"

    # Seconds, as the agent writes its versions: the same magnitude as the post's.
    for update in (teams, cleared):
        assert before <= update.version <= after
        assert len(str(update.version)) == len(str(posts(outbox)[update.receiver].version))


def test_assigning_from_the_command_line_tells_the_teams_channel_with_the_marked_card(alert, outbox, routes_file,
                                                                                      database_url, tmp_path):
    env = {"TOEX_DATABASE_URL": database_url, "TOEX_DATA_DIR": str(tmp_path), "TOEX_ROUTES_FILE": str(routes_file)}
    add_user(env, "analyst-kent", "analyst", "ERSOU")
    env = signed_in(env, tmp_path / "session", "supervisor-3", "supervisor", "ERSOU")
    result = toex("alerts", "assign", ALERT_ID, "--to", "analyst-kent", "--reason", "Kent lead", env=env)
    assert result.returncode == 0, result.stderr
    [teams] = updates(outbox, TEAMS)
    texts = card_texts(teams.payload)
    assert texts[0] == "OFFICIAL-SENSITIVE" and "Update: assigned to analyst-kent by supervisor-3" in texts
    assert outbox.alert_details(ALERT_ID)["assignee"] == "analyst-kent"


# -- the use case, as the command line and the dashboard call it ------------------------------


class Clock:
    """The lifecycle's wall clock, fixed by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class FeedbackTopic:
    """Stands for toex.feedback: what was published, with its key; ``down`` makes publishing fail as Kafka would."""

    published: list[tuple[bytes, Feedback]] = field(default_factory=list)
    down: bool = False

    def __call__(self, key: bytes, feedback: Feedback) -> None:
        if self.down:
            raise KafkaUnavailable("Kafka did not acknowledge the write to toex.feedback within 30 s")
        self.published.append((key, feedback))


NOW = dt.datetime(2026, 11, 2, 8, 15, 7, 250_000, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def feedback_topic() -> FeedbackTopic:
    return FeedbackTopic()


@pytest.fixture
def lifecycle(outbox: Outbox, routes_file: Path, feedback_topic: FeedbackTopic, clock: Clock) -> AlertLifecycle:
    return AlertLifecycle(outbox, RoutesFile(routes_file), feedback_topic, clock=clock)


def test_acknowledging_sends_a_teams_receiver_the_marked_adaptive_card(alert, outbox, lifecycle):
    change = lifecycle.acknowledge(ALERT_ID, by="analyst-7")

    assert change.alert.status == "acknowledged" and change.updates_queued == 2
    assert outbox.alert_details(ALERT_ID)["assignee"] == "analyst-7"
    [teams] = updates(outbox, TEAMS)
    assert teams.payload["type"] == "message"
    texts = card_texts(teams.payload)
    assert texts[0] == texts[-1] == "OFFICIAL-SENSITIVE"
    assert texts[1] == "Update: acknowledged by analyst-7"
    assert card_facts(teams.payload)["Status"] == "acknowledged"
    assert teams.route == posts(outbox)[TEAMS].route == "root/ersou-teams"
    assert NOMINAL not in str(teams.payload)


def test_a_receiver_cleared_for_personal_data_gets_the_nominal_ids(alert, outbox, lifecycle):
    lifecycle.assign(ALERT_ID, to="team-kent-msht", by="supervisor-2")

    [cleared] = updates(outbox, CLEARED)
    fields = [f["text"] for block in cleared.payload["blocks"] for f in block.get("fields", [])]
    assert f"*Nominals*\n{NOMINAL}" in fields
    assert cleared.payload["disclosure"].endswith("1 nominal ids")
    assert cleared.payload["reply"]["text"].endswith("assigned to team-kent-msht by supervisor-2")
    [teams] = updates(outbox, TEAMS)
    assert NOMINAL not in str(teams.payload) and "nominal ids" not in teams.payload["disclosure"]


def test_the_update_version_is_in_seconds_as_the_agent_writes_it(alert, outbox, lifecycle):
    lifecycle.acknowledge(ALERT_ID, by="analyst-7")

    for receiver, post in posts(outbox).items():
        [update] = updates(outbox, receiver)
        assert update.version == int(NOW.timestamp())
        assert post.version == int((AT + dt.timedelta(seconds=30)).timestamp())  # the agent's: notify_at, seconds
        assert 0 < update.version - post.version < 7 * 86_400


def test_two_changes_in_one_second_both_reach_the_channel(alert, outbox, lifecycle):
    lifecycle.acknowledge(ALERT_ID, by="analyst-7")
    lifecycle.assign(ALERT_ID, to="analyst-8", by="analyst-7")  # same clock: the same second

    for receiver in (TEAMS, CLEARED):
        versions = [u.version for u in updates(outbox, receiver)]
        assert versions == [int(NOW.timestamp()), int(NOW.timestamp()) + 1]
    assert card_texts(updates(outbox, TEAMS)[-1].payload)[1] == "Update: assigned to analyst-8 by analyst-7"


def test_close_publishes_exactly_one_feedback_with_the_outcome(alert, outbox, lifecycle, feedback_topic):
    change = lifecycle.close(ALERT_ID, outcome="safeguarded", by="analyst-9", note="visit arranged")

    assert feedback_topic.published == [(NOMINAL.encode(), Feedback(
        schema_version=1, alert_id=ALERT_ID, nominal_id=NOMINAL, outcome="safeguarded", analyst_id="analyst-9",
        at=NOW, note="visit arranged"))]
    assert change.feedback == tuple(f for _, f in feedback_topic.published)
    details = outbox.alert_details(ALERT_ID)
    assert details is not None and (details["status"], details["outcome"]) == ("closed", "safeguarded")
    [teams] = updates(outbox, TEAMS)
    assert card_texts(teams.payload)[1] == "Update: closed: safeguarded"
    assert card_facts(teams.payload)["Status"] == "closed"


def test_an_alert_about_several_nominals_teaches_about_each(outbox, routes_file, feedback_topic, clock):
    outbox.save_alert(make_alert().model_copy(update={"nominal_ids": ["KNT-N-1", "KNT-N-2"]}))
    AlertLifecycle(outbox, load_routes(routes_file), feedback_topic, clock=clock).close(
        ALERT_ID, outcome="not_relevant", by="analyst-9")
    assert [(key, f.nominal_id) for key, f in feedback_topic.published] == [(b"KNT-N-1", "KNT-N-1"),
                                                                             (b"KNT-N-2", "KNT-N-2")]


def test_close_changes_nothing_when_the_outcome_cannot_be_published(alert, outbox, lifecycle, feedback_topic):
    feedback_topic.down = True
    with pytest.raises(KafkaUnavailable):
        lifecycle.close(ALERT_ID, outcome="arrest", by="analyst-9")
    assert outbox.alert_details(ALERT_ID)["status"] == "open"
    assert not updates(outbox, TEAMS) and not updates(outbox, CLEARED)


def test_a_receiver_gone_from_the_routes_is_reported_and_the_others_told(alert, outbox, feedback_topic, clock,
                                                                          tmp_path, caplog):
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(ROUTES.replace("""    - name: ersou-cleared
      match: {region: ERSOU}
      receiver: slack-ersou-cleared
""", "").replace("""  - name: slack-ersou-cleared
    kind: slack
    channel: "#toex-ersou-cleared"
    include_personal_data: true
""", ""), encoding="utf-8")
    change = AlertLifecycle(outbox, load_routes(fewer), feedback_topic, clock=clock).acknowledge(ALERT_ID, by="a-1")

    assert change.receivers_not_told == (CLEARED,) and change.updates_queued == 1
    assert len(updates(outbox, TEAMS)) == 1 and not updates(outbox, CLEARED)
    assert CLEARED in caplog.text and NOMINAL not in caplog.text


def test_an_unknown_alert_is_refused_with_how_to_find_one(outbox, lifecycle):
    with pytest.raises(ToexError, match="no alert 'ALERT-NONE'.*alerts list"):
        lifecycle.acknowledge("ALERT-NONE", by="analyst-7")


def test_a_grown_alert_is_edited_quietly_on_slack_and_not_sent_to_teams_a_risen_band_tells_both(
        alert: Alert, outbox: Outbox, routes_file: Path) -> None:
    labels = {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": NOMINAL}
    matches = load_routes(routes_file).match(labels)
    score = SimpleNamespace(occurred_at=AT)
    grown = alert.model_copy(update={"version": 2, "situation_id": "sit-1", "event_refs": [*alert.event_refs, EventRef(
        topic="toex.intel", key="I-9")]})
    for match in matches:
        queue_alert(outbox, AlertDecision("grow", grown, match, AT + dt.timedelta(minutes=5)), score, now=AT)
    assert updates(outbox, TEAMS) == [], "Teams cannot edit a card: nothing until the band rises"
    [edit] = updates(outbox, CLEARED)
    assert edit.payload["quiet"] and "reply" not in edit.payload and edit.version == 2, "an edit, no reply"
    assert outbox.get_alert(ALERT_ID) == grown, "the record has the grown alert"

    risen = grown.model_copy(update={"version": 3, "band": "critical"})
    for match in matches:
        queue_alert(outbox, AlertDecision("update", risen, match, AT + dt.timedelta(minutes=6)), score, now=AT)
    assert [u.version for u in updates(outbox, TEAMS)] == [3]
    told = updates(outbox, CLEARED)[-1]
    assert told.version == 3 and told.payload["reply"]["text"].endswith("update: band critical")


def test_a_late_event_never_holds_its_update_back_longer_than_the_routes_interval(
        alert: Alert, outbox: Outbox, routes_file: Path) -> None:
    labels = {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": NOMINAL}
    [cleared] = [m for m in load_routes(routes_file).match(labels) if m.receiver.name == CLEARED]
    # An event recorded five days before the alert's last notification, arriving now.
    late = SimpleNamespace(occurred_at=AT - dt.timedelta(days=5))
    risen = alert.model_copy(update={"version": 2, "band": "critical"})
    queue_alert(outbox, AlertDecision("update", risen, cleared, AT + dt.timedelta(seconds=30)), late, now=AT)
    [update] = updates(outbox, CLEARED)
    assert update.not_before <= AT + dt.timedelta(seconds=cleared.group_interval_s)


def test_with_the_dashboards_address_each_message_links_to_the_alerts_page_and_the_alert_does_not_carry_it(
        alert, outbox, routes_file, feedback_topic, clock):
    lifecycle = AlertLifecycle(outbox, RoutesFile(routes_file), feedback_topic, clock=clock,
                               public_url="https://toex.example.police.uk")
    lifecycle.acknowledge(ALERT_ID, by="analyst-7")

    link = f"https://toex.example.police.uk/alerts/{ALERT_ID}"
    [teams] = updates(outbox, TEAMS)
    assert card_facts(teams.payload)["Open"] == link
    [cleared] = updates(outbox, CLEARED)
    assert link in str(cleared.payload["blocks"])
    assert outbox.get_alert(ALERT_ID).url is None  # stored (and published) alike wherever the dashboard is
