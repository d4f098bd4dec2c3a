"""Schemathesis against the partner API for as long as you like, on a broker of its own. Prints JSON.

    python benchmarks/intake_fuzz.py [--seconds 600] [--seed N]

Starts Kafka from its cached jars on free ports in a temporary folder, creates
the topics and a partner, serves ``toex-stream intake serve`` and runs
``schemathesis run --checks all`` (examples, coverage, fuzzing, stateful) at
its OpenAPI document. ``make test`` runs the same for 40 s with a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api_fuzz import fuzz_intake
from tests.conftest import free_port
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    with tempfile.TemporaryDirectory(prefix="toex-fuzz-") as folder:
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                            data_dir=Path(folder), web_port=free_port())
        broker = LocalKafka(settings)
        broker.up()
        try:
            run = fuzz_intake(settings, Path(folder) / "schemathesis", seconds=args.seconds, seed=seed)
        finally:
            broker.down()
    failures = run.output.split("=== FAILURES ===", 1)[1][:4000] if "=== FAILURES ===" in run.output else ""
    print(json.dumps({"seed": seed, **run.summary(), "failures": failures}, indent=2))
    sys.exit(run.exit_code)


if __name__ == "__main__":
    main()
