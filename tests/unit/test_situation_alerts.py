"""Situations to alerts with the bundled routes and profiles: one alert per situation per region, the right
region, grown in place, re-notified only when the band rises or a victim appears, silences, merges, erasure."""

from __future__ import annotations

import datetime as dt

import pytest

from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.geo import resolve
from toex_stream.domain.pipeline import situate_step
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.situations.book import Book

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)
RISK = {"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 0.95}


def score(nominal: str, band: str, event: str, *, postcode: str = "CT1 2AB", minutes: float = 0,
          threat: str = "msht", features: dict[str, float] | None = None) -> contract.Score:
    where = resolve(postcode=postcode)
    topic, key = event.split(":", 1)
    return contract.Score(
        schema_version=1, nominal_id=nominal, threat=threat, profile_version=f"{threat}@v1",
        model_version=f"{threat}@v1/l0", risk_score=RISK[band], band=band,
        reasons=[contract.Reason(feature="adverts_30d", contribution=1.2, text="3 adverts in 30 days")],
        event_ref=contract.EventRef(topic=topic, key=key), mention_id=f"{event}#{nominal}",
        occurred_at=T0 + dt.timedelta(minutes=minutes), region=where.region, force_code=where.force_code,
        event_count=3, features=features or {"adverts_30d": 3},
    )


class Stream:
    """The situation step's input as the score step makes it: per mention, the event's evidence and its scores."""

    def __init__(self, routes, profiles) -> None:
        self.routes, self.profiles = routes, profiles
        self.book, self.groups, self.members = Book(), {}, {}

    def event(self, event: str, people: dict[str, tuple[str, str]], *, minutes: float = 0, postcode: str = "CT1 2AB",
              threats: tuple[str, ...] = ("msht",), silences: list[Silence] = (), features=None,
              phones: dict[str, str] | None = None, reverse: bool = False):
        """``people``: nominal -> (role in the event, band of its score); the step's effects.

        The mentions' inputs come in the people's order, or the other way round with ``reverse`` (the score step
        takes a event's mentions from their nominals' partitions in no set order)."""
        evidence = contract.SituationEvidence(
            event=event, at=T0 + dt.timedelta(minutes=minutes),
            members=[(n, role) for n, (role, _) in people.items()],
            identifiers=[(n, f"p:{phone}") for n, phone in (phones or {}).items()])
        inputs = [contract.SituationInput(
            schema_version=1, kind="scored", nominal_id=n, evidence=evidence,
            scores=[score(n, band, event, postcode=postcode, minutes=minutes, threat=t, features=features)
                    for t in threats]) for n, (_, band) in people.items()]
        inputs = inputs[::-1] if reverse else inputs
        return situate_step(inputs, self.book, self.groups, self.members, self.routes, self.profiles, silences,
                            silence_time=T0 + dt.timedelta(minutes=minutes)).effects

    def close(self, alert_id: str) -> None:
        situate_step([contract.SituationInput(schema_version=1, kind="closed", nominal_id="N-any", alert_id=alert_id)],
                     self.book, self.groups, self.members, self.routes, self.profiles)


@pytest.fixture
def stream():
    return Stream(load_routes(), load_profiles())


def actions(effects) -> list[tuple[str, str]]:
    return [(decision.action, decision.alert.alert_id) for decision, _ in effects.alerts]


def test_one_referral_about_a_controller_and_two_victims_is_one_alert_naming_each_with_their_role(stream):
    effects = stream.event("toex.referrals:p:R-1", {"N-boss": ("suspect", "high"), "N-w1": ("potential_victim", "low"),
                                                    "N-w2": ("potential_victim", "medium")},
                           threats=("msht", "missing"))
    alerts = {decision.alert.alert_id: decision.alert for decision, _ in effects.alerts}
    assert len(alerts) == 1, "one situation, one region: one alert, whatever the threats and people"
    [alert] = alerts.values()
    assert alert.region == "ERSOU" and alert.threats == ["missing", "msht"] and alert.situation_id
    assert {(m.nominal_id, m.role) for m in alert.members} == {
        ("N-boss", "suspected_controller"), ("N-w1", "possible_victim"), ("N-w2", "possible_victim")}
    victim = next(m for m in alert.members if m.nominal_id == "N-w1")
    assert victim.linked_by and "named together with N-boss" in victim.linked_by[0], "the evidence for the link"
    assert [ref.key for ref in alert.event_refs] == ["p:R-1"]
    assert any(r.feature == "situation_victims" for r in alert.reasons), "the network counts towards its band"


def test_a_kent_event_goes_to_ersou_and_a_north_wales_one_to_nwrocu(stream):
    kent = stream.event("toex.adverts:s:1", {"N1": ("unknown", "high"), "N2": ("unknown", "high")})
    wales = stream.event("toex.adverts:s:2", {"N3": ("unknown", "high"), "N4": ("unknown", "high")},
                         postcode="LL11 1AA")
    [(decision, _)] = kent.alerts[:1]
    assert decision.alert.region == "ERSOU" and decision.route.receiver.channel == "#toex-ersou"
    assert wales.alerts[0][0].alert.region == "NWROCU" and wales.alerts[0][0].route.receiver.channel == "#toex-nwrocu"


def test_one_person_in_one_event_linked_to_no_one_is_held_below_the_alert_band(stream):
    assert stream.event("toex.adverts:s:1", {"N1": ("unknown", "high")}).alerts == []
    [(second, _)] = stream.event("toex.adverts:s:2", {"N1": ("unknown", "high")}, minutes=10).alerts
    assert second.action == "open", "seen again, the same person is a situation of their own"


def test_the_same_situation_gives_the_same_alert_id_after_a_restart_and_grows_quietly(stream):
    people = {"N1": ("suspect", "high"), "N2": ("unknown", "medium")}
    [(first, _)] = stream.event("toex.intel:I-1", people).alerts
    restarted = Stream(stream.routes, stream.profiles)
    [(again, _)] = restarted.event("toex.intel:I-1", people).alerts
    assert again.alert.alert_id == first.alert.alert_id and again.alert.situation_id == first.alert.situation_id
    grown = stream.event("toex.adverts:s:9", {"N2": ("unknown", "medium")}, minutes=60)
    [(grow, _)] = grown.alerts
    assert grow.action == "grow" and grow.alert.version == 2 and len(grow.alert.event_refs) == 2
    risen = stream.event("toex.adverts:s:10", {"N1": ("unknown", "critical")}, minutes=70)
    [(update, _)] = risen.alerts
    assert update.action == "update" and update.alert.alert_id == first.alert.alert_id
    assert update.alert.band == "critical" and update.alert.version == 3


def test_a_new_possible_victim_is_notified_again(stream):
    stream.event("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("potential_victim", "medium")})
    effects = stream.event("toex.referrals:p:R-2", {"N1": ("suspect", "high"), "N3": ("potential_victim", "low")},
                           minutes=60)
    assert {d.action for d, _ in effects.alerts} == {"update"}
    assert {m.nominal_id for m in effects.alerts[-1][0].alert.members} == {"N1", "N2", "N3"}


def test_silences_hold_but_never_over_a_critical_situation_or_a_child(stream):
    silence = Silence(silence_id="s1", matchers={"region": "ERSOU"}, starts_at=T0, ends_at=T0 + dt.timedelta(hours=1),
                      created_by="analyst-3", comment="operation under way")
    muted = stream.event("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("unknown", "high")}, silences=[silence])
    assert muted.alerts == [] and {q.silence_id for _, q in muted.suppressed} == {"s1"}
    child = stream.event("toex.referrals:p:R-3", {"N5": ("potential_victim", "high")}, silences=[silence],
                         features={"referral_child": 1.0})
    assert [d.alert.band for d, _ in child.alerts] == ["critical"] and child.suppressed == []
    later = stream.event("toex.intel:I-2", {"N1": ("suspect", "high")}, minutes=61, silences=[silence])
    assert [d.action for d, _ in later.alerts] == ["open"]


def test_closing_an_alert_opens_a_new_episode_next_time(stream):
    [(first, _)] = stream.event("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("unknown", "high")}).alerts
    stream.close(first.alert.alert_id)
    [(second, _)] = stream.event("toex.intel:I-2", {"N1": ("suspect", "high")}, minutes=30).alerts
    assert second.action == "open" and second.alert.alert_id != first.alert.alert_id


def test_when_two_situations_merge_the_older_alert_lives_on_and_the_other_is_closed_as_merged(stream):
    [(older, _)] = stream.event("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("unknown", "high")}).alerts
    [(younger, _)] = stream.event("toex.intel:I-2", {"N3": ("suspect", "high"), "N4": ("unknown", "high")},
                                  minutes=5).alerts
    assert older.alert.alert_id != younger.alert.alert_id
    effects = stream.event("toex.referrals:p:R-9", {"N2": ("unknown", "high"), "N3": ("suspect", "high")}, minutes=10)
    by_id = {d.alert.alert_id: d for d, _ in effects.alerts}
    closed = by_id[younger.alert.alert_id]
    assert closed.alert.status == "closed" and closed.alert.merged_into == older.alert.alert_id
    survivor = by_id[older.alert.alert_id].alert
    assert survivor.status == "open" and {m.nominal_id for m in survivor.members} == {"N1", "N2", "N3", "N4"}
    assert survivor.situation_id == older.alert.situation_id


def test_a_shared_phone_links_two_people_and_an_erased_one_leaves_the_alert(stream):
    stream.event("toex.adverts:s:1", {"N1": ("unknown", "high")}, phones={"N1": "abc"})
    [(alert, _)] = stream.event("toex.adverts:s:2", {"N2": ("unknown", "high")}, minutes=5,
                                phones={"N2": "abc"}).alerts
    assert {m.nominal_id for m in alert.alert.members} == {"N1", "N2"}
    assert any("shared phone with N1" in text for m in alert.alert.members for text in m.linked_by)
    situate_step([contract.SituationInput(schema_version=1, kind="erased", nominal_id="N1")],
                 stream.book, stream.groups, stream.members, stream.routes, stream.profiles)
    stored = [g["alert"] for own in stream.groups.values() for g in own.values()]
    assert stored and all("N1" not in a["nominal_ids"] for a in stored)
    assert all("N1" not in text for a in stored for m in a["members"] for text in m["linked_by"])
    assert "N1" not in stream.book.links.first_seen


def test_the_order_of_one_events_mentions_does_not_change_the_alert(stream):
    events = [("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("potential_victim", "low")}),
              ("toex.referrals:p:R-2", {"N2": ("potential_victim", "medium"), "N3": ("suspect", "critical"),
                                        "N4": ("potential_victim", "low")}),
              ("toex.intel:I-3", {"N3": ("suspect", "high"), "N5": ("unknown", "high")})]
    other = Stream(stream.routes, stream.profiles)
    for minutes, (event, people) in enumerate(events):
        stream.event(event, people, minutes=minutes * 10)
        other.event(event, people, minutes=minutes * 10, reverse=True)
    mine = {k: g["alert"] for own in stream.groups.values() for k, g in own.items()}
    theirs = {k: g["alert"] for own in other.groups.values() for k, g in own.items()}
    assert mine and mine == theirs


def test_a_critical_situation_pages_at_once_and_a_change_before_a_post_goes_follows_it(stream):
    [(child, _)] = stream.event("toex.referrals:p:R-1", {"N-c": ("potential_victim", "high")},
                                features={"referral_child": 1.0}).alerts
    assert child.action == "open" and child.notify_at == T0, "no group wait for a child"
    [(high, _)] = stream.event("toex.intel:I-1", {"N1": ("suspect", "high"), "N2": ("unknown", "high")},
                               minutes=1).alerts
    assert high.notify_at == T0 + dt.timedelta(minutes=1, seconds=30), "the route's group wait"
    [(change, _)] = stream.event("toex.intel:I-2", {"N1": ("suspect", "high"), "N3": ("potential_victim", "low")},
                                 minutes=1.2).alerts
    assert change.action == "update" and change.alert.alert_id == high.alert.alert_id
