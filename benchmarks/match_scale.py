"""Matching at 10k, 100k and 1M nominals: latency per mention, memory, candidate recall. Prints JSON.

    python benchmarks/match_scale.py [--sizes 10000 100000 1000000] [--queries 2000] [--recall-sample 100]

Nominals are invented with a long-tailed name distribution (the simulator's
name pools for the common names, generated ones for the tail), UK mobiles,
dates of birth and postcodes. Mentions are drawn from them with the errors real
records carry (typing errors, nicknames, swapped day and month, family name
first, a missing date, another number) plus as many mentions of people the
index does not hold. Latency is timed per mention on one core.

Candidate recall compares the index with a full scan: for each sampled mention
every nominal that agrees on at least one field is scored (a pair agreeing on
none has only negative weights and cannot reach review); recall is the share
of the full scan's match or possible-match nominals that the index also
proposed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import time
from collections import defaultdict

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cdist

from toex_stream.domain.matching.evaluate import peak_memory_mb, percentile
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.names import NICKNAME_TABLE, fold
from toex_stream.domain.matching.records import MatchRecord, NameVariant
from toex_stream.tools.simulate.people import FAMILY_NAMES, GIVEN_NAMES, SimRandom, typo

SYLLABLES = ("ba be bi bo da de di do ga ge gi ka ke ki ko la le li lo ma me mi mo na ne ni no "
             "ra re ri ro sa se si so ta te ti to va ve vi vo").split()


def name_pools(rng: SimRandom) -> tuple[list[str], list[str]]:
    families = [fold(n) for pool in FAMILY_NAMES.values() for n in pool]
    families += ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                 + rng.choice(["", "s", "n", "ck", "escu", "er"])
                 for _ in range(30_000)]
    givens = [fold(n) for pools in GIVEN_NAMES.values() for pool in pools.values() for n in pool]
    givens += ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(3_000)]
    return families, givens


def zipf_pick(rng: SimRandom, pool: list[str]) -> str:
    # Rank-frequency ~ 1/rank: a few names very common, a long tail of rare ones.
    return pool[min(len(pool) - 1, int(len(pool) ** rng.random()) - 1)]


def make_nominals(size: int, seed: int) -> list[MatchRecord]:
    rng = SimRandom(f"{seed}:nominals")
    families, givens = name_pools(rng)
    districts = [f"{a}{n}" for a in ("B", "CV", "WS", "NN", "LS", "M", "E", "CT", "LL", "CF", "BS", "NE")
                 for n in range(1, 30)]
    records = []
    for i in range(size):
        dob = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
        postcode = (f"{rng.choice(districts)} {rng.randint(1, 9)}"
                    f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}")
        records.append(MatchRecord(
            record_id=f"N{i:07d}",
            names=(NameVariant((zipf_pick(rng, givens),), (zipf_pick(rng, families),)),),
            dob=dob if rng.random() < 0.9 else None,
            gender=rng.choice(["female", "male"]),
            phones=frozenset({f"+4477{i:08d}"}) if rng.random() < 0.7 else frozenset(),
            postcode=postcode if rng.random() < 0.6 else None,
            district=postcode.split(" ")[0],
        ))
    return records


def mention_of(rng: SimRandom, nominal: MatchRecord, number: int) -> MatchRecord:
    """The nominal as an event might mention them: one to three fields changed or missing."""
    variant = nominal.names[0]
    given, family, dob = variant.given[0], variant.family[0], nominal.dob
    phones, postcode = nominal.phones, nominal.postcode
    for _ in range(rng.randint(1, 3)):
        change = rng.randrange(7)
        if change == 0:
            family = typo(rng, family)
        elif change == 1:
            nicknames = [k for k, v in NICKNAME_TABLE.items() if v == given and k != given]
            given = rng.choice(nicknames) if nicknames else typo(rng, given)
        elif change == 2 and dob is not None and dob.day <= 12:
            dob = dt.date(dob.year, dob.day, dob.month)
        elif change == 3:
            dob = None
        elif change == 4:
            phones = frozenset({f"+4479{number:08d}"})
        elif change == 5:
            postcode = None
        else:
            given, family = family, given  # family name first, in the wrong fields
    return MatchRecord(f"M{number:07d}", names=(NameVariant((given,), (family,)),), dob=dob, gender=nominal.gender,
                       phones=phones, postcode=postcode, district=postcode.split(" ")[0] if postcode else None)


def full_scan(matcher: Matcher, query: MatchRecord, names: list[str], columns: dict[str, dict]) -> set[str]:
    """Every nominal the model would send to match or review, found without the index."""
    records = [r for r in matcher.index.records if r is not None]
    agreeing: set[int] = set()
    variant = query.names[0]
    for token in (variant.given[0], variant.family[0]):
        scores = cdist([token], names, scorer=JaroWinkler.normalized_similarity, score_cutoff=0.8, workers=1)[0]
        agreeing.update(i // 2 for i in scores.nonzero()[0])
    if query.dob is not None:
        for key in (query.dob, (query.dob.year, query.dob.day, query.dob.month)):
            agreeing.update(columns["dob"].get(key, ()))
        agreeing.update(columns["year"].get(query.dob.year, ()))
        agreeing.update(columns["monthday"].get((query.dob.month, query.dob.day), ()))
    for phone in query.phones:
        agreeing.update(columns["phone"].get(phone, ()))
    if query.district:
        agreeing.update(columns["district"].get(query.district, ()))
    found = set()
    for position in agreeing:
        probability, _ = matcher.score(query, records[position])
        if probability >= matcher.review_threshold:
            found.add(records[position].record_id)
    return found


def scan_columns(records: list[MatchRecord]) -> tuple[list[str], dict[str, dict]]:
    names: list[str] = []
    columns: dict[str, dict] = {k: defaultdict(list) for k in ("dob", "year", "monthday", "phone", "district")}
    for position, record in enumerate(records):
        variant = record.names[0]
        names += [variant.given[0], variant.family[0]]
        if record.dob is not None:
            columns["dob"][record.dob].append(position)
            columns["dob"][(record.dob.year, record.dob.month, record.dob.day)].append(position)
            columns["year"][record.dob.year].append(position)
            columns["monthday"][(record.dob.month, record.dob.day)].append(position)
        for phone in record.phones:
            columns["phone"][phone].append(position)
        if record.district:
            columns["district"][record.district].append(position)
    return names, columns


def run_size(size: int, queries: int, recall_sample: int, seed: int) -> dict:
    rng = SimRandom(f"{seed}:{size}:queries")
    nominals = make_nominals(size, seed)
    matcher = Matcher()
    started = time.perf_counter()
    matcher.load(nominals)
    build_s = time.perf_counter() - started
    matcher.model.estimate_u(matcher.index.live(), seed=seed)
    gc.collect()
    memory_mb = peak_memory_mb()
    mentions = [mention_of(rng, rng.choice(nominals), n) for n in range(queries // 2)]
    strangers = make_nominals(queries - len(mentions), seed + 1)  # people the index does not hold
    for stranger in strangers:
        stranger.record_id = "S" + stranger.record_id
    latencies, right = [], 0
    gc.disable()
    for query in mentions + strangers:
        t0 = time.perf_counter()
        decision = matcher.decide(query)
        latencies.append((time.perf_counter() - t0) * 1000)
        if query.record_id.startswith("M"):
            right += decision.decision == "match"
    gc.enable()
    latencies.sort()

    names, columns = scan_columns(matcher.index.live())
    wanted = found = 0
    for query in (mentions[: recall_sample // 2] + strangers[: recall_sample // 2]):
        scan = full_scan(matcher, query, names, columns)
        proposed = {c.record_id for c in matcher.index.candidates(query)}
        wanted += len(scan)
        found += len(scan & proposed)
    return {
        "nominals": size,
        "mentions": len(latencies),
        "index_build_seconds": round(build_s, 1),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "peak_memory_mb": round(memory_mb, 1),
        "candidate_recall_vs_full_scan": round(found / wanted, 4) if wanted else 1.0,
        "full_scan_pairs_at_review_or_above": wanted,
        "held_mentions_matched": round(right / len(mentions), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--recall-sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = [run_size(size, args.queries, args.recall_sample, args.seed) for size in args.sizes]
    print(json.dumps({"benchmark": "match_scale", "targets": {"p99_ms_at_1m": 5.0, "candidate_recall": 0.995},
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
