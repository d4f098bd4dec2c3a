"""Scores to alert decisions with the bundled routes: the right region, once per situation, silences and inhibition."""

from __future__ import annotations

import datetime as dt

import pytest

from toex_stream.domain import contract
from toex_stream.domain.alerting.decide import alert_decisions, close_groups
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.geo import resolve
from toex_stream.domain.scoring.profiles import load_profiles

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone.utc)


def score(nominal: str, band: str, *, postcode: str = "CT1 2AB", minutes: float = 0, events: int = 3,
          threat: str = "msht") -> contract.Score:
    where = resolve(postcode=postcode)
    return contract.Score(
        schema_version=1, nominal_id=nominal, threat=threat, profile_version=f"{threat}@v1",
        model_version=f"{threat}@v1/l0", risk_score={"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 0.9}[band],
        band=band, reasons=[contract.Reason(feature="adverts_30d", contribution=1.2, text="3 adverts in 30 days")],
        event_ref=contract.EventRef(topic="toex.adverts", key=f"s:{minutes}"), mention_id=f"m{minutes}",
        occurred_at=T0 + dt.timedelta(minutes=minutes), region=where.region, force_code=where.force_code,
        event_count=events, features={"adverts_30d": events},
    )


@pytest.fixture
def routes():
    return load_routes()


@pytest.fixture
def profiles():
    return load_profiles()


def test_a_kent_postcode_goes_to_ersou_and_north_wales_to_nwrocu(routes, profiles):
    [kent], _ = alert_decisions(score("N1", "high"), {}, routes, profiles)
    assert kent.action == "open" and kent.alert.region == "ERSOU"
    assert kent.route.receiver.name.endswith("ersou") and kent.route.receiver.channel == "#toex-ersou"
    [wales], _ = alert_decisions(score("N2", "high", postcode="LL11 1AA"), {}, routes, profiles)
    assert wales.alert.region == "NWROCU" and wales.route.receiver.channel == "#toex-nwrocu"


def test_below_the_alert_band_nothing_is_sent(routes, profiles):
    assert alert_decisions(score("N1", "medium"), {}, routes, profiles) == ([], [])


def test_the_same_situation_gives_the_same_alert_id_and_no_second_alert(routes, profiles):
    groups: dict = {}
    [first], _ = alert_decisions(score("N1", "high"), groups, routes, profiles)
    again, _ = alert_decisions(score("N1", "high", minutes=10), groups, routes, profiles)
    assert again == []  # nothing new: no repeat before repeat_interval
    restarted: dict = {}
    [replayed], _ = alert_decisions(score("N1", "high"), restarted, routes, profiles)
    assert replayed.alert.alert_id == first.alert.alert_id
    [update], _ = alert_decisions(score("N1", "critical", minutes=20, events=5), groups, routes, profiles)
    assert update.action == "update" and update.alert.alert_id == first.alert.alert_id


def test_repeat_interval_is_respected(routes, profiles):
    groups: dict = {}
    alert_decisions(score("N1", "high"), groups, routes, profiles)
    assert alert_decisions(score("N1", "high", minutes=60), groups, routes, profiles)[0] == []
    [repeat], _ = alert_decisions(score("N1", "high", minutes=5 * 60), groups, routes, profiles)
    assert repeat.action == "repeat"


def test_silences_hold_until_they_expire(routes, profiles):
    silence = Silence(silence_id="s1", matchers={"region": "ERSOU"}, starts_at=T0, ends_at=T0 + dt.timedelta(hours=1),
                      created_by="analyst-3", comment="operation under way")
    decisions, suppressed = alert_decisions(score("N1", "high"), {}, routes, profiles, [silence])
    assert decisions == [] and suppressed[0].why == "silenced by s1"
    later, _ = alert_decisions(score("N1", "high", minutes=61), {}, routes, profiles, [silence])
    assert later and later[0].action == "open"


def test_no_silence_mutes_a_critical_alert_or_one_about_a_child(routes, profiles):
    silence = Silence(silence_id="s1", matchers={"region": "ERSOU"}, starts_at=T0, ends_at=T0 + dt.timedelta(hours=1),
                      created_by="analyst-3", comment="operation under way")
    critical, _ = alert_decisions(score("N1", "critical"), {}, routes, profiles, [silence])
    assert critical and critical[0].action == "open"
    about_a_child = score("N2", "high").model_copy(update={"features": {"referral_child": 1.0}})
    decisions, suppressed = alert_decisions(about_a_child, {}, routes, profiles, [silence])
    assert decisions and decisions[0].action == "open" and suppressed == []
    _, muted = alert_decisions(score("N3", "high"), {}, routes, profiles, [silence])
    assert [m.silence_id for m in muted] == ["s1"]


def test_closing_an_alert_opens_a_new_episode_next_time(routes, profiles):
    groups: dict = {}
    [first], _ = alert_decisions(score("N1", "high"), groups, routes, profiles)
    assert close_groups(groups, first.alert.alert_id)
    [second], _ = alert_decisions(score("N1", "high", minutes=30), groups, routes, profiles)
    assert second.action == "open" and second.alert.alert_id != first.alert.alert_id
