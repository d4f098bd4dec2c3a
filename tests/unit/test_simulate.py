"""The simulator: deterministic, valid, fully labelled, and shaped like the cases it models."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict

import pytest

from toex_stream.domain import contract
from toex_stream.domain.enrich import enrich
from toex_stream.domain.normalise import normalise_phone
from toex_stream.tools.simulate import JsonLinesSink, TruthWriter, run, simulate, write_nominals
from toex_stream.tools.simulate.places import HOTEL_SWITCHBOARDS


def generate(tmp_path, scenario: str, events: int | None = None, seed: int = 1, name: str = "run"):
    """Run a scenario to JSON lines; return (events as dicts, truth lines, nominal rows)."""
    sim = simulate(scenario, events, seed)
    out, truth, nominals = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.truth", tmp_path / f"{name}.csv"
    write_nominals(nominals, sim.nominals)
    run(sim, JsonLinesSink(out), rate=None, truth=TruthWriter(truth, sim))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    truth_lines = [json.loads(line) for line in truth.read_text(encoding="utf-8").splitlines()]
    with open(nominals, encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return lines, truth_lines, rows


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("mixed"), "mixed", 3000)


def by_network(truth_lines, network):
    return [t for t in truth_lines if t["type"] == "event" and t["network"] == network]


def test_the_same_seed_gives_the_same_stream_and_another_seed_another(tmp_path):
    first = (tmp_path / "a.jsonl", tmp_path / "a.truth")
    for name in ("a", "b", "c"):
        sim = simulate("mixed", 600, seed=7 if name != "c" else 8)
        run(sim, JsonLinesSink(tmp_path / f"{name}.jsonl"), rate=None,
            truth=TruthWriter(tmp_path / f"{name}.truth", sim))
    assert first[0].read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first[1].read_bytes() == (tmp_path / "b.truth").read_bytes()
    assert first[0].read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_every_event_validates_against_the_contract(mixed):
    lines, _, _ = mixed
    assert len(lines) == 3000
    for line in lines:
        model = contract.TOPIC_MODELS[line["topic"]].model_validate_json(json.dumps(line["value"]))
        assert contract.event_key(model) == line["key"]
    assert {line["topic"] for line in lines} == set(contract.INPUT_TOPICS)


def test_the_truth_covers_every_mention_enrich_finds(mixed):
    lines, truth_lines, _ = mixed
    truth_mentions = {m["mention_id"]: m["person_id"]
                      for t in truth_lines if t["type"] == "event" for m in t["mentions"]}
    seen = 0
    for offset, line in enumerate(lines):
        observation = enrich(line["topic"], None, json.dumps(line["value"]).encode(), partition=0, offset=offset)
        assert isinstance(observation, contract.Observation)
        for mention in observation.mentions:
            assert mention.mention_id in truth_mentions
            seen += 1
    assert seen == len(truth_mentions)
    outcomes = Counter(t["outcome"] for t in truth_lines if t["type"] == "event")
    assert outcomes["not_relevant"] > 0 and outcomes["safeguarded"] > 0 and outcomes["arrest"] > 0
    assert all(t["label_delay_days"] > 0 for t in truth_lines if t["type"] == "event")


def test_networks_name_their_members_and_region(mixed):
    _, truth_lines, _ = mixed
    networks = {t["network"]: t for t in truth_lines if t["type"] == "network"}
    assert networks["headdress"]["region"] == "ROCUWM" and networks["booker"]["region"] == "EMSOU"
    for name, network in networks.items():
        members = {m["person_id"] for m in network["members"]}
        mentioned = {m["person_id"] for t in by_network(truth_lines, name) for m in t["mentions"]}
        assert mentioned <= members


def test_headdress_rotates_few_controller_phones_across_towns_and_moves_women(tmp_path):
    lines, truth_lines, _ = generate(tmp_path, "headdress", 400)
    truth = {t["key"]: t for t in truth_lines if t["type"] == "event"}
    adverts = [line["value"] for line in lines if line["topic"] == contract.TOPIC_ADVERTS]
    assert len(adverts) == 397

    towns_per_phone: dict[str, set[str]] = defaultdict(set)
    for advert in adverts:
        for phone in advert["phones"]:
            towns_per_phone[normalise_phone(phone)].add(advert["location"]["town"])
    assert 2 <= len(towns_per_phone) <= 4, "a few controller numbers"
    assert all(len(towns) >= 3 for towns in towns_per_phone.values()), "each rotates across towns"
    assert {t for towns in towns_per_phone.values() for t in towns} == {"Birmingham", "Wolverhampton", "Coventry",
                                                                        "Walsall"}

    # Each woman moves town every few days: measured from her adverts in time order.
    stays: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in lines:
        if line["topic"] == contract.TOPIC_ADVERTS:
            person = truth[line["key"]]["mentions"][0]["person_id"]
            stays[person].append((line["value"]["observed_at"], line["value"]["location"]["town"]))
    moves = 0
    for visits in stays.values():
        visits.sort()
        moves += sum(1 for a, b in zip(visits, visits[1:], strict=False) if a[1] != b[1])
    span_days = 42
    mean_stay = span_days * len(stays) / (moves + len(stays))
    assert 2 <= mean_stay <= 6, f"a town for {mean_stay:.1f} days on average"

    # The same photographs recur across a woman's adverts (near-identical perceptual hashes).
    for person in stays:
        hashes = [h for line in lines if line["topic"] == contract.TOPIC_ADVERTS
                  and truth[line["key"]]["mentions"][0]["person_id"] == person for h in line["value"]["image_hashes"]]
        close = sum(1 for i, a in enumerate(hashes) for b in hashes[i + 1 :]
                    if bin(int(a, 16) ^ int(b, 16)).count("1") <= 4)
        assert close >= len(hashes) // 2

    [referral] = [line["value"] for line in lines if line["topic"] == contract.TOPIC_REFERRALS]
    assert "owes" in referral["narrative"] and referral["exploitation_types"] == ["sexual"]
    intel = [line for line in lines if line["topic"] == contract.TOPIC_INTEL]
    assert {i["value"]["force_code"] for i in intel} == {"west-midlands", "staffordshire"}
    named = {truth[i["key"]]["mentions"][0]["person_id"] for i in intel}
    assert len(named) == 1, "both forces name the same controller"
    ref_truth = truth[f"{referral['partner_id']}:{referral['referral_id']}"]
    assert ref_truth["mentions"][1]["person_id"] in named, "the referral's suspect is that controller"


def test_booker_takes_workers_phones_and_houses_them_together(tmp_path):
    lines, truth_lines, rows = generate(tmp_path, "booker", 150)
    [referral] = [line["value"] for line in lines if line["topic"] == contract.TOPIC_REFERRALS]
    victims = [s for s in referral["subjects"] if s["role"] == "potential_victim"]
    assert len(victims) >= 3 and all(s["phones"] == [] for s in victims), "their phones were taken"
    postcodes = Counter(s["addresses"][0]["postcode"] for s in victims)
    assert max(postcodes.values()) >= 2, "several live at one address"
    assert all(p.startswith("NN") for p in postcodes)
    assert "ID documents" in referral["narrative"] and referral["exploitation_types"] == ["labour"]
    job_phones = {normalise_phone(p) for line in lines if line["topic"] == contract.TOPIC_ADVERTS
                  for p in line["value"]["phones"]}
    assert len(job_phones) <= 3
    intel = [line["value"] for line in lines if line["topic"] == contract.TOPIC_INTEL]
    assert {i["force_code"] for i in intel} == {"northamptonshire", "leicestershire"}
    assert any(row["flags"] == "ocg_member" and row["owning_force"] == "northamptonshire" for row in rows)


def test_background_has_strangers_sharing_a_hotel_switchboard(tmp_path):
    lines, truth_lines, _ = generate(tmp_path, "background", 3000)
    truth = {t["key"]: t for t in truth_lines if t["type"] == "event"}
    owners: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if line["topic"] == contract.TOPIC_ADVERTS:
            for phone in line["value"]["phones"]:
                owners[normalise_phone(phone)].add(truth[line["key"]]["mentions"][0]["person_id"])
    shared = {phone: people for phone, people in owners.items() if len(people) > 1}
    assert shared and set(shared) <= set(HOTEL_SWITCHBOARDS), "only hotel numbers are shared"
    assert all(t["network"] is None and t["outcome"] == "not_relevant" for t in truth.values())
    indicator_adverts = sum(1 for line in lines if line["topic"] == contract.TOPIC_ADVERTS
                            and re.search(r"New in town|Just arrived|young",
                                          line["value"]["body"] + line["value"]["title"], re.I))
    assert indicator_adverts > 0, "ordinary adverts carry some indicators too"


def test_records_carry_the_variants_real_records_do(mixed):
    lines, truth_lines, _ = mixed
    text = json.dumps([line["value"] for line in lines], ensure_ascii=False)
    assert "ş" in text or "ţ" in text, "Romanian cedilla letters"
    assert "ș" in text or "ț" in text, "Romanian comma-below letters"
    assert re.search(r"[áéíóöőúüű]", text), "Hungarian diacritics"
    phones = [p for line in lines for p in (line["value"].get("phones") or [])]
    formats = {re.sub(r"\d", "9", p) if not re.search("[a-z]", p) else "words" for p in phones}
    assert len(formats) >= 6 and "words" in formats
    assert any(p.startswith("0044") for p in phones) and any(p.startswith("+44") for p in phones)
    subjects = [s for line in lines for s in line["value"].get("subjects", [])]
    assert any(s["date_of_birth"] is None and s["age"] is not None for s in subjects), "ages instead of dates"
    assert any(s["aliases"] for s in subjects), "nicknames with the real name as alias"
    arrival = [t["event_time"] for t in truth_lines if t["type"] == "event"]
    assert arrival != sorted(arrival), "events arrive out of order"
    assert (max(arrival)[:10] > "2026-10-01"), "spread over weeks"


def test_nominals_hold_members_unrelated_people_and_namesakes(mixed):
    _, truth_lines, rows = mixed
    person_of = {t["record_id"]: t["person_id"] for t in truth_lines if t["type"] == "nominal"}
    members = {m["person_id"] for t in truth_lines if t["type"] == "network" for m in t["members"]}
    assert set(person_of) == {row["record_id"] for row in rows}
    in_network = [r for r in rows if person_of[r["record_id"]] in members]
    outside = [r for r in rows if person_of[r["record_id"]] not in members]
    assert len(in_network) >= 4 and len(outside) >= 20
    names = Counter((r["given_name"], r["family_name"]) for r in rows)
    namesakes = [r for r in outside if names[(r["given_name"], r["family_name"])] > 1]
    assert namesakes, "someone outside a network shares a member's name"
    assert list(rows[0]) == [
        "record_id", "given_name", "family_name", "date_of_birth", "gender", "nationality", "phone", "email",
        "address", "postcode", "aliases", "flags", "owning_force",
    ]


def test_unknown_scenario_and_too_few_events_are_clear_errors():
    from toex_stream.tools.simulate import SimulationError

    with pytest.raises(SimulationError, match="choose one of headdress, booker, nailbar, background, mixed"):
        simulate("trafficking")
    with pytest.raises(SimulationError, match="needs --events of at least"):
        simulate("headdress", 5)


def test_nail_bar_workers_appear_only_beside_their_controllers_never_in_adverts(tmp_path):
    lines, truth_lines, rows = generate(tmp_path, "nailbar", 60)
    [network] = [t for t in truth_lines if t["type"] == "network"]
    roles = {m["person_id"]: m["role"] for m in network["members"]}
    workers = {p for p, role in roles.items() if role == "victim"}
    controllers = {p for p, role in roles.items() if role == "controller"}
    events = by_network(truth_lines, "nailbar")
    in_adverts = {m["person_id"] for t in events if t["topic"] == contract.TOPIC_ADVERTS for m in t["mentions"]}
    assert in_adverts <= controllers, "adverts carry the controllers' phones, never a worker's"
    seen = defaultdict(set)  # worker -> the topics they appear in
    for t in events:
        people = {m["person_id"] for m in t["mentions"]}
        for worker in people & workers:
            assert people & controllers, "a worker is named beside a controller"
            seen[worker].add(t["topic"])
    assert len(seen) >= 10 and all(topics <= {contract.TOPIC_REFERRALS, contract.TOPIC_INTEL}
                                   for topics in seen.values())
    # Named with no phone of their own; one referral is about a child; shops in two regions.
    values = {(line["topic"], line["key"]): line["value"] for line in lines}
    subjects = [s for t in events if t["topic"] != contract.TOPIC_ADVERTS
                for s in values[(t["topic"], t["key"])]["subjects"] if s["role"] == "potential_victim"]
    assert subjects and not any(s["phones"] for s in subjects)
    referrals = [values[(t["topic"], t["key"])] for t in events if t["topic"] == contract.TOPIC_REFERRALS]
    assert sum(r["subject_is_child"] for r in referrals) == 1
    assert {r["locations"][0]["town"] for r in referrals} == {"Leeds", "Sheffield", "Newcastle upon Tyne"}
    assert [row["record_id"] for row in rows] == ["WYP-N-01207"]
