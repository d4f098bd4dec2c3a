"""Situations: linked nominals found whole, strangers left apart, the older id kept, the same in any order."""

from __future__ import annotations

import itertools
import json
import random

from toex_stream.domain.situations.links import (
    CONTROLLER,
    DAY,
    UNKNOWN,
    VICTIM,
    Evidence,
    Links,
    situation_id,
)


def referral(n: int, day: float, controller: str, workers: list[str]) -> Evidence:
    members = ((controller, "suspect"), *((w, "potential_victim") for w in workers))
    return Evidence(f"toex.referrals:nail-salon-outreach:R-{n}", day * DAY, members)


def advert(n: int, day: float, nominal: str, phone: str) -> Evidence:
    return Evidence(f"toex.adverts:board:{n}", day * DAY, ((nominal, "unknown"),), ((nominal, f"p:{phone}"),))


def nail_bars() -> list[Evidence]:
    """Three shops' referrals naming their workers beside the owner, his partner's adverts on a shared phone."""
    shops = [[f"W-{s}{i}" for i in range(4)] for s in "abc"]
    stream = [referral(n, 10 + 5 * n, "N-owner", workers) for n, workers in enumerate(shops)]
    stream.append(Evidence("toex.intel:NOR-INT-1", 30 * DAY, (("N-partner", "suspect"), ("W-c1", "potential_victim"))))
    stream += [advert(n, 2 + n, "N-owner" if n % 2 else "N-partner", "+447740000001") for n in range(6)]
    return stream


def test_victims_named_only_beside_their_controller_are_in_his_situation_with_their_roles() -> None:
    links = Links()
    for evidence in nail_bars():
        links.observe(evidence)
    [situation] = links.situations()
    assert len(situation.members) == 14
    assert situation.members["N-owner"] == situation.members["N-partner"] == CONTROLLER
    assert {situation.members[f"W-{s}{i}"] for s in "abc" for i in range(4)} == {VICTIM}
    assert len(situation.events) == 10
    # Every link says why: the owner and the partner share a phone.
    [(a, b, kinds, events)] = [link for link in situation.links if {link[0], link[1]} == {"N-owner", "N-partner"}]
    assert kinds == ("shared phone",) and events


def test_a_shared_switchboard_links_no_strangers_not_even_the_first_who_showed_it() -> None:
    links = Links()
    for n in range(2):
        links.observe(advert(n, n, f"N-guest{n}", "+441214960100"))
    assert [sorted(s.members) for s in links.situations()] == [["N-guest0", "N-guest1"]]  # two: linked, for now
    for n in range(2, 8):  # eight unrelated women working from one hotel
        links.observe(advert(n, n, f"N-guest{n}", "+441214960100"))
    assert links.situations() == []
    # Named together in one event, two of them stay linked whatever number they share.
    links.observe(Evidence("toex.intel:I-1", 9 * DAY, (("N-guest3", "suspect"), ("N-guest4", "potential_victim"))))
    links.observe(advert(30, 9, "N-guest9", "+441214960100"))
    assert [sorted(s.members) for s in links.situations()] == [["N-guest3", "N-guest4"]]
    # A phone two people share links them.
    links.observe(advert(20, 9, "N-x", "+447740000009"))
    links.observe(advert(21, 9.5, "N-y", "+447740000009"))
    assert ["N-x", "N-y"] in [sorted(s.members) for s in links.situations()]


def test_when_two_situations_merge_the_older_id_lives_on_and_the_other_is_reported_merged() -> None:
    links = Links()
    links.observe(referral(1, 1, "N-old", ["W-1"]))
    links.observe(referral(2, 5, "N-new", ["W-2"]))
    older, newer = situation_id("N-old"), situation_id("N-new")
    assert {s.situation_id for s in links.situations()} == {older, newer}
    merged = links.observe(Evidence("toex.intel:I-9", 6 * DAY, (("N-new", "suspect"), ("N-old", "suspect"))))
    assert merged == [(newer, older)]
    assert [s.situation_id for s in links.situations()] == [older]


def test_the_same_evidence_in_any_order_gives_the_same_situations() -> None:
    stream = nail_bars() + [referral(9, 40, "N-other", ["W-z"])]
    expected = None
    rng = random.Random(7)
    for _ in range(5):
        order = stream[:]
        rng.shuffle(order)
        links = Links()
        for evidence in order:
            links.observe(evidence)
        found = [(s.situation_id, s.members, s.events) for s in links.situations()]
        expected = expected or found
        assert found == expected


def test_links_fade_and_a_stale_one_no_longer_joins_two_groups() -> None:
    links = Links()
    links.observe(Evidence("toex.intel:I-1", 0.0, (("N-a", "suspect"), ("N-b", "unknown"))))
    links.observe(Evidence("toex.intel:I-2", 200 * DAY, (("N-b", "unknown"), ("N-c", "suspect"))))
    assert [sorted(s.members) for s in links.situations()] == [["N-b", "N-c"]]
    assert links.role("N-b") == UNKNOWN


def test_the_state_survives_a_round_trip_through_json() -> None:
    links = Links()
    for evidence in itertools.islice(nail_bars(), 6):
        links.observe(evidence)
    again = Links.from_json(json.loads(json.dumps(links.to_json())))
    assert again.situations() == links.situations()
    assert again.to_json() == links.to_json()


def test_women_advertised_on_the_same_controller_numbers_are_linked_though_a_dozen_share_each() -> None:
    phones = [f"+44774000010{n}" for n in range(4)]
    rng = random.Random(2)
    links = Links()
    for n in range(120):
        woman = f"N-woman{n % 12}"
        shown = rng.sample(phones, 1)
        links.observe(Evidence(f"toex.adverts:board:{n}", n * DAY / 3, ((woman, "unknown"),),
                               tuple((woman, f"p:{p}") for p in shown)))
    [situation] = links.situations()
    assert len(situation.members) == 12
    # One number alone, shown by as many strangers, would not have linked them.
    alone = Links()
    for n in range(12):
        alone.observe(advert(n, n, f"N-guest{n}", "+447740000999"))
    assert alone.situations() == []


def test_pruning_forgets_only_what_no_longer_counts_and_the_situations_stay_the_same() -> None:
    links = Links()
    links.observe(Evidence("toex.intel:I-1", 0.0, (("N-a", "suspect"), ("N-b", "unknown"))))
    links.observe(Evidence("toex.adverts:board:1", 1 * DAY, (("N-c", "unknown"),), (("N-c", "p:1"),)))
    links.observe(Evidence("toex.intel:I-2", 150 * DAY, (("N-d", "suspect"), ("N-e", "potential_victim"))))
    links.observe(Evidence("toex.adverts:board:2", 151 * DAY, (("N-f", "unknown"),), (("N-f", "p:2"),)))
    links.observe(Evidence("toex.adverts:board:3", 152 * DAY, (("N-g", "unknown"),), (("N-g", "p:2"),)))
    before = [(s.situation_id, sorted(s.members)) for s in links.situations()]
    gone = links.prune(links.now - 90 * DAY)
    assert gone == {"toex.intel:I-1", "toex.adverts:board:1"}
    assert not {"N-a", "N-b", "N-c"} & set(links.first_seen), "people with nothing left in the window go"
    assert [(s.situation_id, sorted(s.members)) for s in links.situations()] == before
    assert sorted(map(sorted, (s.members for s in links.situations()))) == [["N-d", "N-e"], ["N-f", "N-g"]]


def test_adverts_on_a_number_a_force_holds_link_their_posters_to_its_holder_whatever_name_they_sign() -> None:
    # A gang leader's number is on his force record; his job adverts are signed with a different name each
    # time, so each advert is taken for a person of its own who shows that number and nothing else.
    links = Links()
    for n in range(4):
        poster = f"prov-{n}"
        links.observe(Evidence(f"toex.adverts:jobs:{n}", n * DAY, ((poster, "unknown"),),
                               ((poster, "p:leader"), ("N-leader", "p:leader")), (("N-leader", "p:leader"),)))
    links.observe(Evidence("toex.intel:NOR-1", 5 * DAY, (("N-leader", "suspect"),),
                           (("N-leader", "p:leader"), ("N-leader", "p:second")), (("N-leader", "p:leader"),)))
    [situation] = links.situations()
    assert set(situation.members) == {"N-leader", "prov-0", "prov-1", "prov-2", "prov-3"}
    # Without the record, four strangers and a known man on one number are a switchboard: no one is linked.
    unrecorded = Links()
    for n in range(4):
        unrecorded.observe(Evidence(f"toex.adverts:jobs:{n}", n * DAY, ((f"prov-{n}", "unknown"),),
                                    ((f"prov-{n}", "p:leader"), ("N-leader", "p:leader"))))
    unrecorded.observe(Evidence("toex.intel:NOR-1", 5 * DAY, (("N-leader", "suspect"),),
                                (("N-leader", "p:leader"), ("N-leader", "p:second"))))
    assert unrecorded.situations() == []
    # On the record, a number women with numbers of their own share (a hotel's) still links none of them.
    hotel = Links()
    for n in range(4):
        woman = f"N-guest{n}"
        hotel.observe(Evidence(f"toex.adverts:b:{n}", n * DAY, ((woman, "unknown"),),
                               ((woman, "p:hotel"), (woman, f"p:own{n}"), ("N-clerk", "p:hotel")),
                               (("N-clerk", "p:hotel"),)))
    assert hotel.situations() == []


def test_a_place_an_event_names_links_its_people_to_those_seen_there_elsewhere_and_not_through_a_hub() -> None:
    # Intelligence saw the leader's son at the house where a referral's workers live.
    links = Links()
    links.observe(Evidence("toex.referrals:p:R-1", 1 * DAY, (("N-leader", "suspect"), ("W-1", "potential_victim")),
                           (("W-1", "a:house"),)))
    links.observe(Evidence("toex.intel:LEI-1", 3 * DAY, (("N-son", "suspect"),), (("N-son", "a:house"),)))
    [situation] = links.situations()
    assert set(situation.members) == {"N-leader", "W-1", "N-son"}
    # A man named beside many strangers, each at their own address, is a hub: the addresses those events
    # name (each shown by him and one stranger, in that one event) chain none of them to him.
    hub = Links()
    for n in range(8):
        stranger = f"N-s{n}"
        hub.observe(Evidence(f"toex.referrals:p:R-{n}", n * DAY, (("N-hub", "suspect"), (stranger, "potential_victim")),
                             (("N-hub", f"a:{n}"), (stranger, f"a:{n}"))))
    assert hub.situations() == []
