"""What a reviewer is shown, worked out: the network's picture and an advert's marked terms."""

from __future__ import annotations

from toex_stream.domain.casefile import highlight, network
from toex_stream.domain.scoring.indicators import load_lexicon


def test_the_network_puts_controllers_in_the_middle_numbers_everyone_and_draws_each_link_once() -> None:
    members = [
        {"nominal_id": "N-boss", "role": "suspected_controller", "linked_by": ["named together with W-1 (2 events)"]},
        {"nominal_id": "W-1", "role": "possible_victim", "linked_by": ["named together with N-boss (2 events)",
                                                                       "shared phone with W-2 (1 events)"]},
        {"nominal_id": "W-2", "role": "possible_victim", "linked_by": ["shared phone with W-1 (1 events)"]},
    ]
    picture = network(members, size=300)
    boss = next(n for n in picture.nodes if n.nominal_id == "N-boss")
    assert (boss.number, boss.x, boss.y) == (1, 150.0, 150.0)
    assert sorted(n.number for n in picture.nodes) == [1, 2, 3]
    assert sorted((e.a.nominal_id, e.b.nominal_id, e.kinds) for e in picture.edges) == [
        ("N-boss", "W-1", "named together"), ("W-1", "W-2", "shared phone")]
    assert network(list(reversed(members)), size=300) == picture  # the same alert, the same picture


def test_terms_are_marked_in_the_text_as_written_accents_and_case_kept() -> None:
    text = "Új vagyok a városban!  NEW-IN-TOWN, call me"
    segments = highlight(load_lexicon(), text)
    assert "".join(s.text for s in segments) == text  # nothing lost or changed
    marked = {s.text: s.hit.term for s in segments if s.hit}
    assert marked["Új vagyok a városban"] == "new_in_town_hu"
    assert "NEW-IN-TOWN" in marked
    assert highlight(load_lexicon(), "") == []
    assert [s.hit for s in highlight(load_lexicon(), "a quiet afternoon")] == [None]
