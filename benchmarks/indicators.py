"""Advert indicator extraction on one core: adverts per second. Prints JSON.

    python benchmarks/indicators.py [--adverts 50000] [--seed 1] [--passes 3]

Times what the enrich step does for each advert, ``category_weights(extract(title,
body))``, over the title and body of the ``mixed`` scenario's simulated adverts.
Simulated adverts are short (~120 characters), so it also times the same adverts
run together three at a time (~300 characters, the length of a typical real
advert), which is the figure the target applies to: 20,000 adverts per second.
Each figure is the best of ``--passes`` passes, as the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence

from toex_stream.domain.scoring.indicators import load_lexicon
from toex_stream.tools.simulate import simulate

TARGET_ADVERTS_PER_SECOND = 20_000


def simulated_adverts(count: int, seed: int) -> list[tuple[str, str]]:
    """Title and body of the first ``count`` adverts in the ``mixed`` scenario (about 70% of its events)."""
    adverts: list[tuple[str, str]] = []
    for event in simulate("mixed", count * 2, seed).events():
        if event.topic == "toex.adverts":
            adverts.append((event.value["title"], event.value["body"]))
            if len(adverts) == count:
                break
    return adverts


def best_rate(work: Callable[[str, str], object], adverts: Sequence[tuple[str, str]], passes: int) -> list[float]:
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        for title, body in adverts:
            work(title, body)
        rates.append(len(adverts) / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adverts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    lexicon = load_lexicon()
    load_seconds = time.perf_counter() - started

    adverts = simulated_adverts(args.adverts, args.seed)
    bodies = [body for _, body in adverts]
    typical = [(title, " ".join((body, bodies[(i + 1) % len(bodies)], bodies[(i + 2) % len(bodies)])))
               for i, (title, body) in enumerate(adverts)]

    def work(title: str, body: str) -> object:
        return lexicon.category_weights(lexicon.extract(title, body))

    simulated_rates = best_rate(work, adverts, args.passes)
    typical_rates = best_rate(work, typical, args.passes)
    hits = sum(len(lexicon.extract(title, body)) for title, body in adverts)
    print(json.dumps({
        "benchmark": "indicators",
        "scenario": "mixed",
        "seed": args.seed,
        "adverts": len(adverts),
        "mean_chars": round(statistics.fmean(len(t) + len(b) + 1 for t, b in adverts)),
        "adverts_per_second": round(max(simulated_rates)),
        "mean_chars_typical": round(statistics.fmean(len(t) + len(b) + 1 for t, b in typical)),
        "adverts_per_second_typical": round(max(typical_rates)),
        "passes": {"simulated": [round(r) for r in simulated_rates], "typical": [round(r) for r in typical_rates]},
        "hits_per_advert": round(hits / len(adverts), 2),
        "lexicon_version": lexicon.version,
        "terms": len(lexicon.terms),
        "lexicon_load_seconds": round(load_seconds, 3),
        "target_adverts_per_second": TARGET_ADVERTS_PER_SECOND,
        "target_met": max(typical_rates) >= TARGET_ADVERTS_PER_SECOND,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
