"""Alert routing: each region's alerts reach its channel; grouping, repeats and silences hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from pathlib import Path

import pytest

from toex_stream.domain import geo
from toex_stream.domain.alerting.grouping import GroupState, alert_id_for, decide, group_key
from toex_stream.domain.alerting.routes import RouteMatch, RoutingConfig, RoutingError, labels_of
from toex_stream.domain.alerting.routes_file import RoutesFile, load_routes
from toex_stream.domain.alerting.suppression import Silence, silenced
from toex_stream.domain.contract import EventRef, Score
from toex_stream.domain.errors import ToexError

ALERTING = {"high", "critical"}
T0 = 1_800_000_000.0  # epoch seconds, 2027-01-15


def score_at(postcode: str, *, nominal_id: str = "N-1", threat: str = "msht", band: str = "high") -> Score:
    """A score for an event at ``postcode``, placed by geo as the enrich step would."""
    place = geo.resolve(postcode=postcode)
    return Score(
        schema_version=1,
        nominal_id=nominal_id,
        threat=threat,
        profile_version="msht@v1",
        model_version="cold-start",
        risk_score=0.8,
        band=band,
        reasons=[],
        event_ref=EventRef(topic="toex.adverts", key="feed:1"),
        mention_id="feed:1#0",
        occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
        region=place.region,
        force_code=place.force_code,
        event_count=3,
        features={},
    )


def labels(nominal_id: str = "N-1", *, region: str = "ERSOU", threat: str = "msht", band: str = "high") -> dict:
    return {"region": region, "force_code": "", "threat": threat, "band": band, "nominal_id": nominal_id}


@pytest.fixture(scope="module")
def routes() -> RoutingConfig:
    return load_routes()


# -- the bundled routes ---------------------------------------------------------------------------


def test_a_kent_postcode_goes_to_the_ersou_channel(routes: RoutingConfig) -> None:
    kent = labels_of(score_at("CT1 2AB"))
    assert kent == {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": "N-1"}
    [match] = routes.match(kent)
    assert (match.route_path, match.receiver.kind, match.receiver.channel) == ("root/ERSOU", "slack", "#toex-ersou")
    assert match.receiver.include_personal_data is False


def test_a_north_wales_postcode_goes_to_the_nwrocu_channel(routes: RoutingConfig) -> None:
    [match] = routes.match(labels_of(score_at("LL57 2DG")))
    assert (match.route_path, match.receiver.channel) == ("root/NWROCU", "#toex-nwrocu")


def test_an_unknown_place_goes_to_national_triage(routes: RoutingConfig) -> None:
    scottish = labels_of(score_at("EH1 1YZ"))
    assert scottish["region"] == "UNKNOWN" and scottish["force_code"] == ""
    [match] = routes.match(scottish)
    assert (match.route_path, match.receiver.name) == ("root/UNKNOWN", "national-triage")


def test_every_region_has_its_own_channel_and_inherits_the_root_timings(routes: RoutingConfig) -> None:
    for region in ("NERSOU", "NWROCU", "YHROCU", "EMSOU", "ROCUWM", "ERSOU", "SEROCU", "SWROCU", "TARIAN", "LONDON"):
        [match] = routes.match(labels(region=region))
        assert match.receiver.channel == f"#toex-{region.lower()}"
        assert (match.group_by, match.group_wait_s, match.group_interval_s, match.repeat_interval_s) == (
            ("situation_id",),
            30.0,
            300.0,
            4 * 3600.0,
        )


# -- the tree: continue, inheritance, validation ----------------------------------------------------

TREE = """\
receivers:
  - {name: log, kind: log}
  - {name: ersou, kind: slack, channel: "#toex-ersou"}
  - {name: csu-national, kind: teams, webhook_setting: TOEX_TEAMS_WEBHOOK_CSE}
route:
  receiver: log
  group_by: [nominal_id]
  group_wait: 45s
  group_interval: 10m
  repeat_interval: 1d
  routes:
    - match_re: {threat: "cse|child_.*"}
      receiver: csu-national
      continue: true
      repeat_interval: 2h
    - match: {region: ERSOU}
      receiver: ersou
      routes:
        - name: kent-critical
          match: {force_code: kent, band: critical}
          group_wait: 0s
"""


@pytest.fixture
def tree(tmp_path: Path) -> RoutingConfig:
    path = tmp_path / "routes.yaml"
    path.write_text(TREE, encoding="utf-8")
    return load_routes(path)


def test_continue_sends_one_alert_to_two_receivers(tree: RoutingConfig) -> None:
    matches = tree.match(labels(threat="cse"))
    assert [(m.route_path, m.receiver.name) for m in matches] == [
        ("root/route0", "csu-national"),
        ("root/ERSOU", "ersou"),
    ]
    # Regexes are anchored: 'cse_x' is neither 'cse' nor 'child_...', so only the region route matches.
    assert [m.receiver.name for m in tree.match(labels(threat="cse_x"))] == ["ersou"]


def test_a_child_inherits_what_it_does_not_set(tree: RoutingConfig) -> None:
    [kent] = tree.match({**labels(band="critical"), "force_code": "kent"})
    assert kent.route_path == "root/ERSOU/kent-critical"
    assert kent.receiver.name == "ersou"  # from its parent
    assert kent.group_wait_s == 0.0  # its own
    assert (kent.group_interval_s, kent.repeat_interval_s, kent.group_by) == (600.0, 86_400.0, ("nominal_id",))
    [cse, _] = tree.match(labels(threat="cse"))
    assert (cse.group_wait_s, cse.repeat_interval_s) == (45.0, 7200.0)


def test_no_matching_child_means_the_parent_matches(tree: RoutingConfig) -> None:
    [match] = tree.match(labels(region="LONDON"))
    assert (match.route_path, match.receiver.name) == ("root", "log")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("receiver: ersou", "receiver: ersuo"), "routes.yaml:17: route.routes[1].receiver: no receiver 'ersuo'"),
        (("group_wait: 0s", "group_wait: 0"), "routes.yaml:21: route.routes[1].routes[0].group_wait"),
        (("group_wait: 45s", "group_wait: 45 seconds"), "'45 seconds' is not a duration"),
        (('"cse|child_.*"', '"cse|(child"'), "route.routes[0].match_re.threat: regular expression"),
        (("region: ERSOU", "region: ERSUO"), "region 'ERSUO' is not one of"),
        (("continue: true", "contine: true"), "unknown key 'contine' (a typo?)"),
        (("webhook_setting: TOEX_TEAMS_WEBHOOK_CSE", "webhook_setting: https://x.example/hook"), "never the URL"),
    ],
)
def test_a_mistake_names_the_file_line_and_place(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(TREE.replace(*edit), encoding="utf-8")
    with pytest.raises(RoutingError) as caught:
        load_routes(path)
    assert expected in str(caught.value)
    assert isinstance(caught.value, ToexError)


# -- reloading --------------------------------------------------------------------------------------


def test_an_edit_is_picked_up_and_a_broken_edit_keeps_the_last_good_routes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(TREE, encoding="utf-8")
    reloads: list[Path] = []
    routes_file = RoutesFile(path, on_reload=reloads.append)  # the worker logs each reload (s.62, alteration)
    assert routes_file.current().match(labels())[0].receiver.channel == "#toex-ersou"

    path.write_text(TREE.replace('"#toex-ersou"', '"#toex-ersou-trial"'), encoding="utf-8")
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    assert routes_file.current().match(labels())[0].receiver.channel == "#toex-ersou-trial"

    path.write_text(TREE.replace("receiver: ersou", "receiver: ersuo"), encoding="utf-8")
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    with caplog.at_level(logging.ERROR, logger="toex_stream.domain.alerting.routes_file"):
        kept = routes_file.current()
        assert routes_file.current() is kept  # the same bad file is not re-read nor logged again
    assert kept.match(labels())[0].receiver.channel == "#toex-ersou-trial"
    assert len(caplog.records) == 1 and "no receiver 'ersuo'" in caplog.records[0].getMessage()
    assert reloads == [path], "told of the reload that took effect, not of the bad edit"


def test_a_routes_file_that_is_invalid_from_the_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("route: {}\n", encoding="utf-8")
    with pytest.raises(RoutingError, match="missing key 'receivers'"):
        RoutesFile(path)


# -- silences ---------------------------------------------------------------------------------------

START = dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.timezone.utc)


def silence(**matchers: str) -> Silence:
    return Silence(
        silence_id="S-1",
        matchers=matchers,
        starts_at=START,
        ends_at=START + dt.timedelta(hours=2),
        created_by="analyst-7",
        comment="operation under way",
    )


@pytest.mark.parametrize(
    ("matchers", "other"),
    [
        ({"nominal_id": "N-1"}, labels("N-2")),
        ({"region": "ERSOU"}, labels(region="SEROCU")),
        ({"threat": "msht"}, labels(threat="cse")),
    ],
)
def test_a_silence_holds_until_it_expires(matchers: dict[str, str], other: dict[str, str]) -> None:
    muted = silence(**matchers)
    during = START + dt.timedelta(hours=1)
    assert silenced(labels("N-1"), [muted], during) is muted
    assert silenced(other, [muted], during) is None
    assert silenced(labels("N-1"), [muted], START - dt.timedelta(seconds=1)) is None
    assert silenced(labels("N-1"), [muted], START + dt.timedelta(hours=2)) is None  # expired
    assert silenced(labels("N-1"), [muted], during.timestamp()) is muted  # epoch seconds too


def test_a_silence_must_match_something_and_say_who_set_it() -> None:
    with pytest.raises(RoutingError, match="no matchers"):
        silence()
    with pytest.raises(RoutingError, match="matches on"):
        silence(band="high")
    with pytest.raises(RoutingError, match="created_by"):
        dataclasses.replace(silence(region="ERSOU"), created_by="")
    with pytest.raises(RoutingError, match="at most 7 days"):
        dataclasses.replace(silence(region="ERSOU"), ends_at=START + dt.timedelta(days=7, seconds=1))
    assert dataclasses.replace(silence(region="ERSOU"), ends_at=START + dt.timedelta(days=7)).active(START)


# -- grouping and decisions -------------------------------------------------------------------------

ERSOU = RouteMatch("root/ERSOU", load_routes().receiver("slack-ersou"), ("nominal_id",), 30.0, 300.0, 14_400.0)


def opened(band: str = "high", events: int = 3) -> GroupState:
    action, state, notify_at = decide(None, ERSOU, labels(), band, events, T0, ALERTING)
    assert (action, notify_at) == ("open", T0 + 30.0)
    assert state is not None
    return state


def test_a_new_group_opens_after_group_wait_and_a_low_score_opens_nothing() -> None:
    state = opened()
    assert state.alert_id.startswith("alert-") and len(state.alert_id) == 26
    assert decide(None, ERSOU, labels(band="medium"), "medium", 3, T0, ALERTING) == ("none", None, T0)


def test_repeat_interval_is_respected() -> None:
    state = opened()
    sent = T0 + 30.0
    action, state, _ = decide(state, ERSOU, labels(), "high", 3, sent + 4 * 3600 - 1, ALERTING)
    assert action == "none"
    action, state, notify_at = decide(state, ERSOU, labels(), "high", 3, sent + 4 * 3600, ALERTING)
    assert (action, notify_at) == ("repeat", sent + 4 * 3600)
    action, _, _ = decide(state, ERSOU, labels(), "high", 3, sent + 5 * 3600, ALERTING)
    assert action == "none"


def test_an_update_is_held_to_group_interval() -> None:
    state = opened()
    sent = T0 + 30.0
    action, state, notify_at = decide(state, ERSOU, labels(band="critical"), "critical", 3, sent + 10, ALERTING)
    assert (action, notify_at, state.band) == ("update", sent + 300.0, "critical")
    # More events before that update went: the same notification, not a later one.
    action, state, notify_at = decide(state, ERSOU, labels(band="critical"), "critical", 5, sent + 20, ALERTING)
    assert (action, notify_at, state.event_count) == ("update", sent + 300.0, 5)
    # Long after the last one: sent now.
    action, _, notify_at = decide(state, ERSOU, labels(band="critical"), "critical", 6, sent + 3600, ALERTING)
    assert (action, notify_at) == ("update", sent + 3600)


def test_a_change_during_group_wait_replaces_the_pending_open() -> None:
    state = opened()
    action, new, notify_at = decide(state, ERSOU, labels(), "critical", 4, T0 + 10, ALERTING)
    assert (action, notify_at, new.alert_id, new.band) == ("open", T0 + 30.0, state.alert_id, "critical")


def test_the_same_situation_gives_the_same_alert_id_after_a_restart() -> None:
    first = opened()
    restored = GroupState(**json.loads(json.dumps(dataclasses.asdict(first))))  # as a table would keep it
    assert restored == first
    assert opened().alert_id == first.alert_id
    assert first.alert_id == alert_id_for(group_key(ERSOU, labels()), "msht", 1)
    other = decide(None, ERSOU, labels("N-2"), "high", 3, T0, ALERTING)[1]
    assert other is not None and other.alert_id != first.alert_id


def test_a_closed_group_reopens_as_a_new_episode_with_a_new_id() -> None:
    first = opened()
    closed = dataclasses.replace(first, closed=True)
    assert decide(closed, ERSOU, labels(band="medium"), "medium", 9, T0 + 7200, ALERTING) == (
        "none",
        closed,
        T0 + 7200,
    )
    action, reopened, notify_at = decide(closed, ERSOU, labels(), "high", 9, T0 + 7200, ALERTING)
    assert (action, notify_at, reopened.episode, reopened.closed) == ("open", T0 + 7200 + 30.0, 2, False)
    assert reopened.alert_id != first.alert_id
    assert reopened.alert_id == alert_id_for(group_key(ERSOU, labels()), "msht", 2)
