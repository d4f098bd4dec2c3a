"""`toex-stream nominals import` of a large Person CSV, as a user runs it: rows per second. Prints JSON.

    python benchmarks/nominal_import.py [--rows 100000] [--seed 7] [--database-url postgresql+psycopg://...]
                                        [--worker-starts 2]

Starts a broker of its own (cached jars, free ports, a temporary folder),
writes a Person CSV of ``--rows`` invented nominals (the long-tailed names of
benchmarks/match_scale.py, with phones, emails, addresses and postcodes), then
runs ``toex-stream nominals import`` on it twice in a process of its own: the
first import creates and publishes every row, the second finds each unchanged.
The database is SQLite in the temporary folder unless ``--database-url`` names
another (it should be empty: rows it already holds count as unchanged).

With ``--worker-starts N`` a worker is then started N times in a row on the
same data folder and stopped (SIGTERM) each time it has loaded the nominals:
``worker_start_s`` is, for each start, the seconds from starting its process to
its log line "nominals loaded". The first start reads all of toex.nominals; the
later ones can start from the snapshot the earlier one left.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from match_scale import make_nominals  # benchmarks/ is on the path: this script's folder

from toex_stream.adapters.kafka_io import TopicReader
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group
from toex_stream.tools.simulate import PERSON_CSV_COLUMNS

TOEX = Path(sys.executable).with_name("toex-stream")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_csv(path: Path, rows: int, seed: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=PERSON_CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for n, record in enumerate(make_nominals(rows, seed)):
            name = record.names[0]
            given, family = " ".join(name.given).title(), " ".join(name.family).title()
            writer.writerow({
                "record_id": record.record_id,
                "given_name": given,
                "family_name": family,
                "date_of_birth": record.dob.isoformat() if record.dob else "",
                "gender": record.gender or "",
                "nationality": ("GB", "RO", "HU", "PL", "AL", "VN")[n % 6],
                "phone": ";".join(sorted(record.phones)),
                "email": f"{given.lower()}.{family.lower()}{n}@example.org".replace(" ", "") if n % 3 else "",
                "address": f"{n % 200 + 1} Church Lane" if record.postcode else "",
                "postcode": record.postcode or "",
            })


def act_as_importer(settings: Settings) -> None:
    """`nominals import` acts as a user: this OS account, mapped to a supervisor in the run's own database."""
    import getpass

    from toex_stream.adapters.sql.store import build_engine, migrate
    from toex_stream.adapters.sql.users import Users

    engine = build_engine(settings)
    try:
        migrate(engine)
        users = Users(engine)
        if users.get("benchmark") is None:
            users.add("benchmark", "supervisor", {"national"}, os_account=getpass.getuser())
    finally:
        engine.dispose()


def run_import(path: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the import's process (this machine is shared: both say something), summary."""
    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([str(TOEX), "nominals", "import", str(path), "--reason", "benchmark"],
                            env={**os.environ, **env}, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    if result.returncode != 0:
        raise SystemExit(f"the import failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, cpu, result.stdout.strip().splitlines()[-1]


def count_on_topic(bootstrap: str, expected: int, timeout: float = 120) -> int:
    keys: set[bytes] = set()
    deadline = time.monotonic() + timeout
    with TopicReader(bootstrap, [contract.TOPIC_NOMINALS], start="beginning") as reader:
        while len(keys) < expected and time.monotonic() < deadline:
            keys.update(message.key() for message in reader.poll(timeout=1.0, max_messages=10_000))
    return len(keys)


def time_worker_start(settings: Settings, log_file: Path, timeout: float = 900) -> float:
    """Seconds from starting a worker to its "nominals loaded"; the worker is stopped after."""
    before = log_file.read_text(errors="replace").count("nominals loaded") if log_file.exists() else 0
    started = time.perf_counter()
    process = start_worker(settings, log_file)
    try:
        while time.perf_counter() - started < timeout:
            if log_file.read_text(errors="replace").count("nominals loaded") > before:
                return round(time.perf_counter() - started, 2)
            if process.poll() is not None:
                raise SystemExit(f"the worker exited:\n{log_file.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        raise SystemExit(f"the worker did not load the nominals in {timeout:.0f} s")
    finally:
        stop_process_group(process, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an empty database to import into (default: SQLite in a temp folder)")
    parser.add_argument("--worker-starts", type=int, default=0, help="then time this many worker starts in a row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="toex-import-") as tmp:
        folder = Path(tmp)
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                            data_dir=folder / "data", web_port=free_port(), database_url=args.database_url)
        csv_file = folder / "nominals.csv"
        write_csv(csv_file, args.rows, args.seed)
        broker = LocalKafka(settings)
        broker.up()
        try:
            env = settings_env(settings)
            act_as_importer(settings)
            first_s, first_cpu, first = run_import(csv_file, env)
            again_s, again_cpu, again = run_import(csv_file, env)
            on_topic = count_on_topic(settings.kafka_bootstrap, args.rows)
            starts = [time_worker_start(settings, folder / "worker.log") for _ in range(args.worker_starts)]
        finally:
            broker.down()
    database = re.sub(r"://[^@/]*@", "://", settings.database_url or "").split(":")[0]
    print(json.dumps({
        "benchmark": "nominal_import", "rows": args.rows, "database": database,
        "first_import_s": round(first_s, 2), "rows_per_s": round(args.rows / first_s),
        "first_import_cpu_s": round(first_cpu, 2), "rows_per_cpu_s": round(args.rows / first_cpu),
        "first_summary": first,
        "again_s": round(again_s, 2), "again_cpu_s": round(again_cpu, 2),
        "again_rows_per_s": round(args.rows / again_s), "again_summary": again,
        "on_topic": on_topic, "worker_start_s": starts,
    }))


if __name__ == "__main__":
    main()
