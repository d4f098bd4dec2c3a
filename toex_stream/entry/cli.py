"""The ``toex-stream`` command line: the composition root for everything but the worker."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from toex_stream.adapters.log_privacy import install_redaction
from toex_stream.domain import contract
from toex_stream.domain.access import NATIONAL, Permission, User, can, describe_scope, require, visible_regions
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.clock import utc_now
from toex_stream.domain.errors import ToexError
from toex_stream.entry.audit_cli import audit_app
from toex_stream.entry.cli_support import acting_user, cli_audit_trail, console, err_console, feedback_publisher
from toex_stream.entry.cli_support import cli_database as _database
from toex_stream.entry.cli_support import cli_settings as _settings
from toex_stream.entry.dashboard_cli import dashboard_app
from toex_stream.entry.erase_cli import erase
from toex_stream.entry.intake_cli import intake_app, partners_app
from toex_stream.entry.replay_cli import HELP as replay_help
from toex_stream.entry.replay_cli import replay as replay_command
from toex_stream.entry.retention_cli import retention_app
from toex_stream.entry.users_cli import login, logout, users_app, whoami

if TYPE_CHECKING:  # imported where used: the command line starts faster
    from toex_stream.adapters.sql.outbox import Outbox
    from toex_stream.adapters.sql.silences import Silences
    from toex_stream.application.alert_lifecycle import AlertLifecycle, LifecycleChange
    from toex_stream.domain.alerting.suppression import Silence
    from toex_stream.domain.contract import Alert

app = typer.Typer(
    help="Event-streaming referral and alerting for policing organised exploitation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="A local single-node Apache Kafka (KRaft) for development and tests.",
                        no_args_is_help=True)
schemas_app = typer.Typer(help="The JSON Schemas of the event contract.", no_args_is_help=True)
nominals_app = typer.Typer(help="The known nominals: import them into the store and onto toex.nominals.",
                           no_args_is_help=True)
alerts_app = typer.Typer(help="The alerts regional teams review: list, acknowledge, assign, close.",
                         no_args_is_help=True)
silences_app = typer.Typer(help="Mute alerts for a nominal, a region or a threat, for a while.",
                           no_args_is_help=True)
eval_app = typer.Typer(help="Measure quality and speed against known answers.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(eval_app, name="eval")
app.add_typer(nominals_app, name="nominals")
app.add_typer(alerts_app, name="alerts")
app.add_typer(silences_app, name="silences")
app.add_typer(schemas_app, name="schemas")
app.command("replay", help=replay_help)(replay_command)
app.add_typer(partners_app, name="partners")
app.add_typer(intake_app, name="intake")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(dashboard_app, name="dashboard")
app.command("erase")(erase)
app.add_typer(users_app, name="users")
app.command("login")(login)
app.command("logout")(logout)
app.command("whoami")(whoami)


DEFAULT_SIMULATION_RATE = 200.0  # events per second to Kafka: watchable, and far below the worker's pace
InputType = contract.Source


# -- kafka ------------------------------------------------------------------------


@kafka_app.command("up")
def kafka_up() -> None:
    """Fetch (once), format (once) and start the broker; use TOEX_KAFKA_BOOTSTRAP's broker if one answers."""
    from toex_stream.adapters.localkafka import LocalKafka

    LocalKafka(_settings()).up(progress=console.print)


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the broker that `kafka up` started."""
    from toex_stream.adapters.localkafka import LocalKafka

    stopped = LocalKafka(_settings()).down()
    console.print("Kafka stopped" if stopped else "no local Kafka was running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether a broker answers, and whether this checkout started it."""
    from toex_stream.adapters.localkafka import LocalKafka

    console.print(LocalKafka(_settings()).status().describe())


# -- worker, submit -----------------------------------------------------------------


@app.command()
def worker() -> None:
    """Run the stream agents (the Faust worker) until Ctrl-C; creates the topics first."""
    _settings()  # fail here, with a clear message, on bad settings
    os.execv(sys.executable, [sys.executable, "-m", "streams"])


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="A JSON file holding one referral, advert or intelligence report.")],
    type_: Annotated[
        InputType | None,
        typer.Option("--type", help="What the file holds; detected from its id field when omitted."),
    ] = None,
) -> None:
    """Validate one event and send it to its topic; invalid input is reported and not sent."""
    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import durable_producer, existing_topics, produce_and_wait

    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ToexError(f"cannot read {file}: {exc.strerror}") from None
    try:
        decoded = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ToexError(f"{file} is not valid JSON: {exc}") from None
    topic = contract.SOURCE_TOPICS[type_] if type_ else contract.detect_topic(decoded)
    if topic is None:
        raise ToexError(
            f"{file}: cannot tell what this is (no referral_id, advert_id or intel_id); "
            "pass --type referral|advert|intel"
        )
    model = contract.INPUT_MODELS[topic]
    try:
        event = model.model_validate_json(raw)
    except ValidationError as exc:
        lines = [f"  {e.path}: {e.message}" for e in contract.field_errors(exc)]
        raise ToexError(f"{file} is not a valid {model.__name__}; nothing was sent:\n" + "\n".join(lines)) from None
    kafka = KafkaAccess.from_settings(_settings())
    if topic not in existing_topics(kafka):
        raise ToexError(f"topic {topic} does not exist yet: start the worker once (`toex-stream worker`) to create it")
    key = contract.event_key(event)
    producer = durable_producer(kafka, **{"message.timeout.ms": 30_000})
    delivered = produce_and_wait(producer, topic, key.encode(), raw)
    console.print(
        f"sent {model.__name__} {key} to {delivered.topic} (partition {delivered.partition}, offset {delivered.offset})"
    )


# -- simulate -----------------------------------------------------------------------


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="headdress, booker, nailbar, background or mixed.")],
    events: Annotated[int | None, typer.Option(help="How many events (default depends on the scenario).")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Events per second (default 200 to Kafka; no limit to --out).")
    ] = None,
    as_fast_as_possible: Annotated[bool, typer.Option("--as-fast-as-possible", help="No rate limit.")] = False,
    seed: Annotated[int, typer.Option(help="The same seed gives the same stream.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Write JSON lines {topic, key, value} here instead of Kafka.")
    ] = None,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth (JSON lines) here.")] = None,
    nominals: Annotated[
        Path | None, typer.Option(help="Write the nominals a force would hold (Person CSV) here.")
    ] = None,
) -> None:
    """Produce a realistic synthetic stream of referrals, adverts and intelligence, with its ground truth."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from toex_stream.tools import simulate as sim

    if rate is not None and rate <= 0:
        raise ToexError("--rate must be above 0 (or use --as-fast-as-possible)")
    if rate is None and out is None:
        rate = DEFAULT_SIMULATION_RATE
    simulation = sim.simulate(scenario, events, seed)
    if nominals is not None:
        sim.write_nominals(nominals, simulation.nominals)
        console.print(f"wrote {len(simulation.nominals)} nominals to {nominals}")
    if out is not None:
        sink: sim.EventSink = sim.JsonLinesSink(out)
        target = str(out)
    else:
        from toex_stream.adapters.kafka_access import KafkaAccess
        from toex_stream.adapters.kafka_io import existing_topics

        settings = _settings()
        kafka = KafkaAccess.from_settings(settings)
        missing = set(contract.INPUT_TOPICS) - existing_topics(kafka)
        if missing:
            raise ToexError(
                f"topics {', '.join(sorted(missing))} do not exist yet: start the worker once to create them"
            )
        sink = sim.KafkaSink(kafka)
        target = settings.kafka_bootstrap
    truth_writer = sim.TruthWriter(truth, simulation) if truth is not None else None
    columns = (
        TextColumn(f"{scenario} → {target}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("simulate", total=simulation.total, rate="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - started, 1e-9):,.0f} events/s")

        sent, seconds = sim.run(
            simulation, sink, rate=None if as_fast_as_possible else rate, truth=truth_writer, progress=advance
        )
    console.print(f"sent {sent:,} events in {seconds:.1f} s ({sent / max(seconds, 1e-9):,.0f} events/s) to {target}")
    if truth is not None:
        console.print(f"wrote the ground truth to {truth}")


# -- nominals -----------------------------------------------------------------------


@nominals_app.command("import")
def nominals_import(
    file: Annotated[Path, typer.Argument(help="Person CSV (record_id, given_name, ...; ';' between several values).")],
    publish: Annotated[bool, typer.Option(help="Also publish created or updated nominals to toex.nominals.")] = True,
    republish: Annotated[bool, typer.Option(help="Publish every stored known nominal again, changed or not.")] = False,
    reason: Annotated[str, typer.Option(help="Why they are loaded (kept in the s.62 log, with what each row "
                                             "created or changed).")] = "",
) -> None:
    """Load known nominals into the store and onto the compacted topic; bad rows are reported, the rest load.

    Publishing creates the project's topics first if they are missing, as the worker does at start.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import NominalPublisher
    from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
    from toex_stream.application.nominal_import import import_nominals
    from toex_stream.ports.store import ChangeAudit

    if not file.is_file():
        raise ToexError(f"{file} does not exist")
    user = acting_user("nominals.import")
    if not reason.strip():
        raise ToexError("--reason must say why these nominals are loaded (it is kept in the audit log)")
    settings = _settings()
    store = SqlAlchemyNominalStore(_database(), audit_head=settings.audit_head_path)
    kafka = KafkaAccess.from_settings(settings)
    publisher = NominalPublisher(kafka) if publish or republish else None
    if publisher is not None:
        from toex_stream.adapters.kafka_io import ensure_topics
        from toex_stream.adapters.topics import ALL, with_retention
        from toex_stream.domain.retention import load_retention

        # Every topic, as the worker creates them at start: the import may come before the first worker.
        created = ensure_topics(kafka, with_retention(ALL, load_retention(settings.retention_file)))
        if created:
            console.print(f"created {len(created)} topics on {settings.kafka_bootstrap}: {', '.join(sorted(created))}")
    with open(file, "rb") as handle:
        rows = max(0, sum(1 for _ in handle) - 1)
    with Progress(TextColumn(f"importing {file.name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console) as bar:
        task = bar.add_task("import", total=rows)
        # Each batch is stored only once Kafka has every nominal of it.
        report = import_nominals(file, store, publish=publisher if publish else None,
                                 flush=publisher.flush if publisher is not None and publish else None,
                                 progress=lambda n: bar.advance(task, n),
                                 audit=ChangeAudit(user.name, reason.strip(), file.name))
    if republish and publisher is not None:
        for nominal in store.iter_nominals(provisional=False):
            publisher(nominal)
    if publisher is not None:
        publisher.flush()
    for problem in report.problems:
        err_console.print(escape(f"{file.name}:{problem.line}: {problem.severity}: {problem.field}: {problem.message}"),
                          highlight=False, soft_wrap=True)
    published = f"; {publisher.sent} published to {contract.TOPIC_NOMINALS}" if publisher is not None else ""
    console.print(f"{report.summary()}{published}")


# -- alerts -------------------------------------------------------------------------

OutcomeChoice = contract.Outcome
# The reason an alert listing is logged with when none is given: looking at one's own queue is the job.
QUEUE_REVIEW = "review of the alert queue"
# Where a person acts, they say why: kept in the s.62 log with who, when and what.
Reason = Annotated[str, typer.Option(help="Why (kept in the s.62 log; no personal data).")]


def _outbox() -> Outbox:
    from toex_stream.adapters.sql.outbox import Outbox

    return Outbox(_database())


def _lifecycle() -> AlertLifecycle:
    """The alert lifecycle over the settings' database, routes file and Kafka: the one use case of every entry point."""
    from toex_stream.application.alert_lifecycle import AlertLifecycle
    from toex_stream.domain.alerting.routes_file import load_routes

    settings = _settings()
    return AlertLifecycle(_outbox(), load_routes(settings.routes_file), feedback_publisher(settings),
                          audit=cli_audit_trail(), public_url=settings.public_url)


def _report_not_told(change: LifecycleChange) -> None:
    if change.receivers_not_told:
        err_console.print(f"[yellow]warning:[/] not in the routes now, so not told: "
                          f"{escape(', '.join(change.receivers_not_told))}", highlight=False)


def _alert_to_handle(alert_id: str, outbox: Outbox) -> tuple[User, Alert]:
    """The signed-in user and the alert, when the user may handle alerts in the alert's region."""
    from toex_stream.application.alert_lifecycle import AlertNotFound

    user = acting_user("alerts.handle")
    alert = outbox.get_alert(alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id!r}; `toex-stream alerts list` shows them")
    require(user, "alerts.handle", alert.region)
    return user, alert


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or closed.")] = None,
    region: Annotated[str | None, typer.Option(help="A region, e.g. ERSOU.")] = None,
    reason: Annotated[str, typer.Option(help="Why you look (kept in the s.62 log).")] = QUEUE_REVIEW,
) -> None:
    """The alerts in your regions, newest first: band, region, threat, score, status, assignee.

    Each listing is a consultation in the s.62 log: who, which alerts, and why (by default a review of the queue).
    """
    from rich.table import Table

    user = acting_user("alerts.read", region)
    outbox = _outbox()
    table = Table(title="Alerts")
    table.add_column("alert", no_wrap=True)  # the reference an analyst copies: never broken
    for column in ("created", "band", "region", "threat", "score", "status", "assignee", "top reason"):
        table.add_column(column)
    # --status takes any text: an unknown status lists no alerts (it is an SQL filter), not an error.
    alerts = outbox.list_alerts(status=status, region=region,  # type: ignore[arg-type]  # free text on purpose
                                regions=visible_regions(user))
    cli_audit_trail().record(AuditRecord(
        "consultation", "alerts.listed", user.name, f"alerts:{region or describe_scope(user.scopes)}",
        f"{len(alerts)} alert(s) listed (status {status or 'any'})"
        + (": " + ", ".join(a.alert_id for a in alerts) if alerts else ""), reason.strip()))
    for alert in alerts:
        details = outbox.alert_details(alert.alert_id) or {}
        table.add_row(alert.alert_id, alert.created_at.strftime("%Y-%m-%d %H:%M"), alert.band, alert.region,
                      alert.threat, f"{alert.risk_score:.2f}", details.get("status", alert.status),
                      details.get("assignee") or "", escape(alert.reasons[0].text) if alert.reasons else "")
    console.print(table)


@alerts_app.command("ack")
def alerts_ack(alert_id: str, reason: Reason) -> None:
    """Acknowledge an alert in your regions, as the signed-in user: you are looking at it."""
    user, _ = _alert_to_handle(alert_id, _outbox())
    _report_not_told(_lifecycle().acknowledge(alert_id, by=user.name, reason=reason.strip()))
    console.print(f"{alert_id} acknowledged by {user.name}")


@alerts_app.command("assign")
def alerts_assign(
    alert_id: str,
    to: Annotated[str, typer.Option(help="The user it is given to: one whose scope covers the alert's region.")],
    reason: Reason,
) -> None:
    """Give an alert in your regions to another user who may handle it (the channels say you gave it)."""
    from toex_stream.entry.cli_support import users_store

    user, alert = _alert_to_handle(alert_id, _outbox())
    assignee = users_store().get(to)
    if assignee is None or assignee.disabled:
        raise ToexError(f"--to {to}: no active user of that name; give a user name (`toex-stream users list`)")
    if not can(assignee, "alerts.handle", alert.region):
        raise ToexError(f"--to {assignee.name}: they may not handle alerts in {alert.region} "
                        f"({assignee.role}, scope {describe_scope(assignee.scopes)}); give a user of that region")
    _report_not_told(_lifecycle().assign(alert_id, to=assignee.name, by=user.name, reason=reason.strip()))
    console.print(f"{alert_id} assigned to {assignee.name}")


@alerts_app.command("close")
def alerts_close(
    alert_id: str,
    outcome: Annotated[OutcomeChoice, typer.Option(help="What was found: the scorer learns from it.")],
    reason: Reason,
    note: Annotated[str, typer.Option(help="A note for the record (no personal data).")] = "",
) -> None:
    """Close an alert in your regions with its outcome, and publish it on toex.feedback for the scorer."""
    user, _ = _alert_to_handle(alert_id, _outbox())
    _report_not_told(_lifecycle().close(alert_id, outcome=outcome, by=user.name, note=note, reason=reason.strip()))
    console.print(f"{alert_id} closed ({outcome}) by {user.name}; outcome published to {contract.TOPIC_FEEDBACK}")


# -- silences -----------------------------------------------------------------------


def _silences() -> Silences:
    from toex_stream.adapters.sql.silences import Silences

    return Silences(_database())


def _silence_region(silence: Silence) -> str:
    """The region a silence mutes; ``national`` when it names none (it mutes every region)."""
    return silence.matchers.get("region") or NATIONAL


def _silence_in_scope(silence_id: str, permission: Permission) -> tuple[User, Silence]:
    """The signed-in user and the silence, when the user has ``permission`` in the silence's region."""
    user = acting_user(permission)
    silence = next((s for s in _silences().all() if s.silence_id == silence_id), None)
    if silence is None:
        raise ToexError(f"no silence {silence_id}; `toex-stream silences list` shows them")
    require(user, permission, _silence_region(silence))
    return user, silence


@silences_app.command("add")
def silences_add(
    hours: Annotated[float, typer.Option(help="How long it lasts, in hours.")],
    nominal: Annotated[str | None, typer.Option(help="Mute alerts about this nominal_id.")] = None,
    region: Annotated[str | None, typer.Option(help="Mute alerts for this region (required unless your scope is "
                                                    "national: without it, every region is muted).")] = None,
    threat: Annotated[str | None, typer.Option(help="Mute alerts of this threat profile.")] = None,
    comment: Annotated[str, typer.Option(help="Why (kept with the silence and in the s.62 log; no personal "
                                              "data).")] = "",
) -> None:
    """Set a silence (supervisor); alerts it matches are not sent while it lasts (all given matchers must agree).

    A critical alert, or one about a child, is never muted. The signed-in user is kept as who set it.
    """
    import datetime as dt

    from toex_stream.domain.alerting.suppression import MAX_SILENCE

    region = region.strip().upper() if region else None  # as alerts name their region
    user = acting_user("silences.manage", region or NATIONAL)
    matchers = {k: v for k, v in (("nominal_id", nominal), ("region", region), ("threat", threat)) if v}
    if not matchers:
        raise ToexError("a silence needs --nominal, --region or --threat: it would mute every alert")
    if hours <= 0:
        raise ToexError("--hours must be above 0")
    if dt.timedelta(hours=hours) > MAX_SILENCE:
        raise ToexError(f"a silence lasts at most {MAX_SILENCE.days * 24} hours; set another when it ends")
    if not comment.strip():
        raise ToexError("--comment must say why alerts are muted (it is kept with the silence and in the audit log)")
    silence = _silences().add(matchers, dt.timedelta(hours=hours), created_by=user.name, comment=comment)
    cli_audit_trail().record(AuditRecord("alteration", "silence.added", user.name, silence.silence_id,
                                         f"mutes {sorted(matchers.items())} for {hours:g} h", comment.strip()))
    console.print(f"{silence.silence_id} mutes {matchers} until {silence.ends_at:%Y-%m-%d %H:%M} UTC")


@silences_app.command("list")
def silences_list() -> None:
    """Every silence in your regions, with who set it, until when, and who ended it early."""
    user = acting_user("silences.read")
    now = utc_now()
    for silence in _silences().all():
        if not can(user, "silences.read", _silence_region(silence)):
            continue
        state = "active" if silence.active(now) else "ended"
        ended = f" (ended by {silence.ended_by})" if silence.ended_by else ""
        console.print(escape(f"{silence.silence_id} {state} {silence.matchers} {silence.starts_at:%Y-%m-%d %H:%M}"
                             f" -> {silence.ends_at:%Y-%m-%d %H:%M}{ended} by {silence.created_by}: "
                             f"{silence.comment}"))


@silences_app.command("expire")
def silences_expire(silence_id: str, reason: Reason) -> None:
    """End a silence in your regions now (supervisor); the signed-in user is kept as who ended it."""
    user, _ = _silence_in_scope(silence_id, "silences.manage")
    cli_audit_trail().record(AuditRecord("alteration", "silence.ended", user.name, silence_id, "ended early",
                                         reason.strip()))
    if not _silences().expire(silence_id, by=user.name):
        raise ToexError(f"no silence {silence_id}; `toex-stream silences list` shows them")
    console.print(f"{silence_id} ended by {user.name}")


@silences_app.command("muted")
def silences_muted(silence_id: str) -> None:
    """What a silence in your regions kept quiet: one line per alert it muted (route, threat, band, nominal...)."""
    user, _ = _silence_in_scope(silence_id, "silences.read")
    muted = [m for m in _silences().muted(silence_id) if can(user, "silences.read", m.region)]
    for m in muted:
        console.print(escape(f"{m.muted_at:%Y-%m-%d %H:%M:%S} {m.route} {m.threat} {m.band} {m.region} "
                             f"{m.nominal_id} {m.mention_id}"))
    console.print(f"{len(muted)} alert(s) muted by {silence_id}")


# -- eval ---------------------------------------------------------------------------


@eval_app.command("match")
def eval_match(
    nominals: Annotated[Path, typer.Option(help="Person CSV of the known nominals.")],
    events: Annotated[Path, typer.Option(help="Person CSV of the people mentioned in events.")],
    truth: Annotated[Path, typer.Option(help="CSV with event_record_id, nominal_record_id of the true links.")],
    train: Annotated[bool, typer.Option(help="Estimate m by EM on the events first (unsupervised).")] = True,
    save_model: Annotated[Path | None, typer.Option(help="Write the trained model (JSON) here for the worker.")] = None,
) -> None:
    """Load the nominals, stream the events through the match agent's code, print quality and speed as JSON."""
    from toex_stream.domain.matching.evaluate import evaluate, read_links, read_person_csv
    from toex_stream.domain.matching.index import Matcher

    for path in (nominals, events, truth):
        if not path.is_file():
            raise ToexError(f"{path} does not exist")
    matcher = Matcher()
    report, _ = evaluate(
        read_person_csv(nominals), list(read_person_csv(events)), read_links(truth), train=train, matcher=matcher
    )
    if save_model is not None:
        save_model.write_text(matcher.model.to_json(), encoding="utf-8")
    typer.echo(json.dumps(report))


# -- schemas ------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path, typer.Option(help="Folder to write <topic>.v1.json into.")] = Path("schemas"),
) -> None:
    """Write the JSON Schema of every topic's value, generated from the contract models."""
    from toex_stream.entry.schemas import export_schemas

    for path in export_schemas(out):
        console.print(f"wrote {path}")


@schemas_app.command("check")
def schemas_check(
    directory: Annotated[Path, typer.Option("--dir", help="Folder holding the exported schemas.")] = Path("schemas"),
) -> None:
    """Fail if the exported schemas differ from the models."""
    from toex_stream.entry.schemas import drifted

    stale = drifted(directory)
    if stale:
        raise ToexError(f"schemas out of date: {', '.join(stale)}; run `toex-stream schemas export`")
    console.print("schemas match the contract")


# -- demo ---------------------------------------------------------------------------


@app.command()
def demo(
    examples: Annotated[Path, typer.Option(help="Folder of example events to send.")] = Path("examples"),
    once: Annotated[bool, typer.Option(help="Exit after the summary instead of watching.")] = False,
    scenario: Annotated[str, typer.Option(help="The simulated case to run ('none' to skip).")] = "headdress",
    rate: Annotated[float, typer.Option(help="Scenario events per second.")] = 25.0,
) -> None:
    """Start Kafka and the worker, send examples and a simulated case, show alerts arriving and a summary."""
    from toex_stream.tools.demo import run_demo

    if rate <= 0:
        raise ToexError("--rate must be above 0")
    missing = run_demo(_settings(), console, examples, once=once,
                       scenario=None if scenario == "none" else scenario, rate=rate)
    if missing:
        raise ToexError(f"{missing} event(s) had no outcome in time; see {_settings().data_dir / 'worker.log'}")


def main() -> None:
    install_redaction()  # no identifier in any log line of a command
    # The command line reports progress itself; library logs show only when something is wrong.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ToexError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
