"""One replay from start to finish: read the range, build the sandbox, replay, compare, audit.

The command line (:mod:`toex_stream.entry.replay_cli`) and the tests call
:func:`run_replay`; it writes nothing to Kafka and, of the live database, only
the audit row (it reads the silences there, and the worker's model files).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.erasure import SqlErasureStore
from toex_stream.adapters.sql.replay_audit import ReplayAudit, finish_replay, record_replay
from toex_stream.adapters.sql.silences import Silences
from toex_stream.application.replay.compare import (
    Outcomes,
    add_replayed,
    differences,
    live_outcomes,
    outcomes_of_report,
)
from toex_stream.application.replay.core import (
    InputMessage,
    Record,
    Replayer,
    Summary,
    configuration,
    iso_ms,
    profiles_and_routes,
    replay_order,
)
from toex_stream.application.replay.kafka import END_OF_TIME, RangeReader
from toex_stream.application.replay.report import ReportSink, read_report
from toex_stream.application.replay.sandbox import (
    needs_training_topic,
    replay_matcher,
    replay_profiles,
    replay_routes,
    replay_scorer,
)
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.clock import utc_now
from toex_stream.domain.erasure import NO_ONE
from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.profiles import load_profiles

# Wherever something is counted: (what, how many in all) -> a callable given how many more are done.
Progress = Callable[[str, int], Callable[[int], None]]
OUTPUT_TOPICS = (contract.TOPIC_MATCHES, contract.TOPIC_SCORES, contract.TOPIC_ALERTS)


def _no_progress(_what: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


@dataclass(frozen=True)
class ReplayRequest:
    """What an analyst asked for (the command line's options)."""

    start: dt.datetime
    end: dt.datetime
    reason: str
    who: str
    topics: tuple[str, ...] = contract.INPUT_TOPICS
    model: str = "current"
    profile: Path | None = None
    routes: Path | None = None
    out: str = ""
    compare: str | None = None  # "live", or the path of an earlier JSON lines report
    silences: bool = True
    history: dt.timedelta = dt.timedelta(0)  # replayed before start to build the states, not reported

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ToexError(f"--from {self.start.isoformat()} is not before --to {self.end.isoformat()}")
        if not self.reason.strip():
            raise ToexError("--reason must say why the replay is run (it is audited)")
        if self.history < dt.timedelta(0):
            raise ToexError("--history must not be negative")
        unknown = [t for t in self.topics if t not in contract.INPUT_TOPICS]
        if unknown:
            raise ToexError(f"--topics {', '.join(unknown)}: replay reads input topics only "
                            f"({', '.join(contract.INPUT_TOPICS)})")


@dataclass
class ReplayResult:
    header: Record
    summary: Record
    differences: list[Record] | None = None
    audit_id: int | None = None


def _read_all(reader: RangeReader, topic: str, start: dt.datetime | None, end: dt.datetime,
              progress: Progress) -> list[InputMessage]:
    ranges = reader.ranges(topic, start, end)
    advance = progress(f"reading {topic}", sum(r.size for r in ranges))
    return list(reader.read(ranges, start, end, progress=advance))


def _live_side(reader: RangeReader, settings: Settings, request: ReplayRequest, events: set[str],
               progress: Progress) -> Outcomes:
    decoded: dict[str, list] = {}
    for topic in OUTPUT_TOPICS:
        model = contract.TOPIC_MODELS[topic]
        decoded[topic] = [model.model_validate_json(m.value) for m in
                          _read_all(reader, topic, request.start, END_OF_TIME, progress) if m.value]
    live_config = profiles_and_routes(load_profiles(settings.profiles_dir), load_routes(settings.routes_file))
    return live_outcomes(decoded[contract.TOPIC_MATCHES], decoded[contract.TOPIC_SCORES],
                         decoded[contract.TOPIC_ALERTS], events, live_config)


def run_replay(settings: Settings, request: ReplayRequest, engine: Engine | None, sink: ReportSink,
               progress: Progress = _no_progress) -> ReplayResult:
    """Replay ``request``'s range in a sandbox into ``sink``; compare and audit (when ``engine`` is given) as asked."""
    # Audited before anything is read: a replay that fails half-way was still a consultation.
    audit_id = None if engine is None else record_replay(engine, ReplayAudit(
        # What is read, history included: the audit is of the data a person saw.
        at=utc_now(), who=request.who, range_from=request.start - request.history, range_to=request.end,
        topics=list(request.topics), reason=request.reason, model=request.model,
        profile=str(request.profile or settings.profiles_dir or "bundled"),
        routes=str(request.routes or settings.routes_file or "bundled"), out=request.out, events=0,
        status="started",
    ), audit_head=settings.audit_head_path)
    summary = Summary()
    try:
        result = _replay(settings, request, engine, sink, progress, summary)
    except BaseException:
        if engine is not None and audit_id is not None:
            finish_replay(engine, audit_id, events=summary.events, failed=True, at=utc_now())
        raise
    if engine is not None and audit_id is not None:
        finish_replay(engine, audit_id, events=summary.events, failed=False, at=utc_now())
    result.audit_id = audit_id
    return result


def _replay(settings: Settings, request: ReplayRequest, engine: Engine | None, sink: ReportSink,
            progress: Progress, summary: Summary) -> ReplayResult:
    profiles = replay_profiles(request.profile, settings.profiles_dir)
    routes = replay_routes(request.routes, settings.routes_file)
    with RangeReader(KafkaAccess.from_settings(settings)) as reader:
        wanted = list(request.topics) + [contract.TOPIC_NOMINALS]
        if needs_training_topic(request.model):
            wanted.append(contract.TOPIC_TRAINING)
        if request.compare == "live":
            wanted += OUTPUT_TOPICS
        reader.check_topics(wanted)
        # A null value fails validation, as it does in the worker (streams/agents.py learn_from).
        training = (contract.TrainingExample.model_validate_json(m.value or b"") for m in
                    _read_all(reader, contract.TOPIC_TRAINING, None, END_OF_TIME, progress)) \
            if needs_training_topic(request.model) else ()
        scorer = replay_scorer(profiles, request.model, settings.data_dir, training)
        matcher, estimate_u = replay_matcher(settings.data_dir)
        silences = Silences(engine).all() if request.silences and engine is not None else []
        # Erased people stay out of the report, as they are out of the live pipeline (no database: nobody is known
        # to be erased, which only a test without one does).
        erased = SqlErasureStore(engine).erased_people(utc_now()) if engine is not None else NO_ONE
        replayer = Replayer(matcher, scorer, routes, silences, erased)

        nominals = sorted(_read_all(reader, contract.TOPIC_NOMINALS, None, request.end, progress), key=replay_order)
        start_ms = int(request.start.timestamp() * 1000)
        replay_from = request.start - request.history
        replay_from_ms = int(replay_from.timestamp() * 1000)
        before = [m for m in nominals if m.timestamp_ms < replay_from_ms]
        for message in before:
            replayer.load_nominal(message.key, message.value)
        if estimate_u:  # as a worker started at the beginning of the replay would
            matcher.model.estimate_u(matcher.index.live())
        stream = [m for m in nominals if m.timestamp_ms >= replay_from_ms]
        for topic in request.topics:
            stream += _read_all(reader, topic, replay_from, request.end, progress)
        stream.sort(key=replay_order)
        inputs = sum(1 for m in stream if m.topic != contract.TOPIC_NOMINALS)
        history = sum(1 for m in stream if m.topic != contract.TOPIC_NOMINALS and m.timestamp_ms < start_ms)
        header: Record = {
            "kind": "replay", "from": iso_ms(request.start), "to": iso_ms(request.end),
            "topics": list(request.topics), "model": request.model,
            "configuration": configuration(scorer, routes, matcher),
            "history": {"from": iso_ms(replay_from), "events": history},
            "nominals_before_range": len(before), "nominal_messages_in_range": len(stream) - inputs,
            "silences": len(silences), "time": "message timestamps (when each event reached Kafka)",
        }
        sink.header(header)
        advance = progress("replaying", inputs - history)
        mine = Outcomes(config=header["configuration"])
        for record in replayer.run(stream, report_from_ms=start_ms):
            sink.event(record)
            summary.add(record)
            if request.compare is not None:
                add_replayed(mine, record)
            advance(1)
        totals = summary.record()
        found = None
        if request.compare is not None:
            if request.compare == "live":
                theirs = _live_side(reader, settings, request, mine.events, progress)
            else:
                theirs = outcomes_of_report(read_report(Path(request.compare)))
            found = differences(mine, theirs)
            totals["differences"] = len(found)
            totals["compared_with"] = request.compare
        sink.finish(found, totals)
    return ReplayResult(header, totals, found)
