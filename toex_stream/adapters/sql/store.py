"""The SQLAlchemy adapter of the nominal store, and the functions that build and migrate its database.

SQLite by default (a file under the data folder), PostgreSQL in production.
Nothing here connects at import: the composition root calls
:func:`build_engine` and :func:`migrate` and hands the engine to
:class:`SqlAlchemyNominalStore`.

>>> import datetime as dt
>>> from toex_stream.adapters.settings import Settings
>>> engine = build_engine(Settings(database_url="sqlite://"))
>>> migrate(engine)
>>> store = SqlAlchemyNominalStore(engine)
>>> nominal = contract.Nominal(schema_version=1, nominal_id="N-1", family_name="Kovács",
...     phones=["07700 900123"], updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc))
>>> store.upsert_nominal(nominal, Provenance("import", "doctest:2"))
True
>>> store.upsert_nominal(nominal, Provenance("import", "doctest:2"))
False
>>> store.find_by_identifier("phone", "+44 7700 900 123")
['N-1']
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    CursorResult,
    Engine,
    Row,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import HeadFile, append
from toex_stream.adapters.sql.models import AliasRow, Base, IdentifierRow, MatchDecisionRow, NominalRow, ProvenanceRow
from toex_stream.domain import contract
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.normalise import normalise_email, normalise_phone, normalise_postcode
from toex_stream.domain.provisional import is_provisional
from toex_stream.ports.store import (
    ChangeAudit,
    IdentifierKind,
    MatchDecision,
    Provenance,
    StoreError,
    UpsertOutcome,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_NOMINALS, _ALIASES, _IDENTIFIERS, _PROVENANCE = (
    Base.metadata.tables[name] for name in ("nominals", "aliases", "identifiers", "provenance")
)
# Ids per IN (...) list: far below every database's limit on bound parameters.
_IN_CHUNK = 500
PAGE_SIZE = 1000
_WRITE_ATTEMPTS = 3
SQLITE_BUSY_TIMEOUT_S = 60
POOL_SIZE = 8
POOL_RECYCLE_S = 1800

# -- engine and migrations ------------------------------------------------------------


def build_engine(settings: Settings) -> Engine:
    """The engine for ``settings.database_url`` (password from the settings); connects on first use."""
    url = make_url(settings.database_url_with_password())
    if url.get_backend_name() != "sqlite":
        # A connection per thread that may write at once (the worker's default executor: cores + 4,
        # the outbox sender, the web routes), checked before use and renewed before a server or a
        # firewall drops it idle.
        return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_SIZE,
                             pool_recycle=POOL_RECYCLE_S, hide_parameters=True)
    if url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The worker and `nominals import` write the same file: wait for the other's transaction
    # (an import batch is published before it commits) rather than fail at once.
    # hide_parameters: a failed statement's exception names no value (they are personal data).
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True)
    _enforce_sqlite_foreign_keys(engine)
    return engine


def _enforce_sqlite_foreign_keys(engine: Engine) -> None:
    """SQLite ignores ON DELETE CASCADE unless each connection turns foreign keys on."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_on_connect):
        return
    event.listen(engine, "connect", _sqlite_on_connect)
    engine.dispose()  # connections opened before the listener was added lack the pragma


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Write-ahead logging: readers (the match index) go on reading while an import writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config() -> Config:
    """An Alembic configuration pointing at the bundled migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the latest revision; a no-op when it is there already."""
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(
            f"cannot migrate the database at {where}: {exc.orig}; check TOEX_DATABASE_URL and that the server runs"
        ) from None


# -- what the s.62 log is told of a change ------------------------------------------------------

# Bookkeeping, not what the force holds about the person.
_NOT_COMPARED = frozenset({"nominal_id", "updated_at", "content_hash"})


def _change_records(audit: ChangeAudit, updated: dict[str, list[str]], created: list[str]) -> list[AuditRecord]:
    records = []
    if created:
        records.append(AuditRecord("collection", "nominal.created", audit.actor, audit.source,
                                   f"{len(created)} nominal(s) created: {', '.join(created)}", audit.why))
    records.extend(AuditRecord("alteration", "nominal.updated", audit.actor, nominal_id,
                               f"from {audit.source}; fields changed: {', '.join(fields)}", audit.why)
                   for nominal_id, fields in updated.items())
    return records


# -- what is stored for a nominal ----------------------------------------------------------

_ADDRESS_PARTS: dict[IdentifierKind, str] = {"address": "text", "postcode": "postcode", "town": "town"}
_NON_WORD = re.compile(r"[\W_]+")


def normalise_identifier(kind: IdentifierKind, value: str) -> str:
    """The form an identifier is compared in: E.164 phones, lower-case emails, UK postcodes, folded text.

    >>> normalise_identifier("postcode", "b11aa"), normalise_identifier("address", " 12, Church  Lane ")
    ('B1 1AA', '12 church lane')
    """
    if kind == "phone":
        return normalise_phone(value)
    if kind == "email":
        return normalise_email(value)
    if kind == "postcode":
        return normalise_postcode(value)
    return _NON_WORD.sub(" ", value.casefold()).strip()


def content_hash(nominal: contract.Nominal) -> str:
    """sha256 of everything the contract says about a nominal but ``updated_at``."""
    content = nominal.model_dump(mode="json", exclude={"updated_at"})
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _nominal_row(nominal: contract.Nominal) -> dict[str, Any]:
    return {
        "nominal_id": nominal.nominal_id,
        "given_name": nominal.given_name,
        "family_name": nominal.family_name,
        "date_of_birth": nominal.date_of_birth,
        "gender": nominal.gender,
        "nationality": nominal.nationality,
        "flags": list(nominal.flags),
        "owning_force": nominal.owning_force,
        "provisional": is_provisional(nominal),
        "updated_at": nominal.updated_at,
        "content_hash": content_hash(nominal),
    }


def _alias_rows(nominal: contract.Nominal) -> list[dict[str, Any]]:
    return [
        {"nominal_id": nominal.nominal_id, "position": position, "alias": alias}
        for position, alias in enumerate(nominal.aliases)
    ]


def _identifier_rows(nominal: contract.Nominal) -> list[dict[str, Any]]:
    def row(kind: IdentifierKind, position: int, value: str) -> dict[str, Any]:
        return {
            "nominal_id": nominal.nominal_id,
            "kind": kind,
            "position": position,
            "value": value,
            "normalised": normalise_identifier(kind, value),
        }

    rows = [row("phone", i, phone) for i, phone in enumerate(nominal.phones)]
    rows += [row("email", i, email) for i, email in enumerate(nominal.emails)]
    for i, address in enumerate(nominal.addresses):
        for kind, part in _ADDRESS_PARTS.items():
            value = getattr(address, part)
            if value:
                rows.append(row(kind, i, value))
    return rows


def _nominal_from_rows(row: Row[Any], aliases: list[str], identifiers: Iterable[Any]) -> contract.Nominal:
    """The contract nominal from its row, its aliases and its identifiers (kind, position, value) in order."""
    values: dict[str, list[str]] = {"phone": [], "email": []}
    addresses: dict[int, dict[str, Any]] = {}
    for identifier in identifiers:
        if identifier.kind in _ADDRESS_PARTS:
            addresses.setdefault(identifier.position, {})[_ADDRESS_PARTS[identifier.kind]] = identifier.value
        else:
            values[identifier.kind].append(identifier.value)
    # Every stored nominal passed validation on its way in; not validating it again on the way
    # out halves the time iter_nominals takes to build the match index.
    return contract.Nominal.model_construct(
        **{
            "schema_version": 1,
            "nominal_id": row.nominal_id,
            "given_name": row.given_name,
            "family_name": row.family_name,
            "aliases": aliases,
            "date_of_birth": row.date_of_birth,
            "gender": row.gender,
            "nationality": row.nationality,
            "phones": values["phone"],
            "emails": values["email"],
            "addresses": [contract.Address.model_construct(**addresses[position]) for position in sorted(addresses)],
            "flags": row.flags,
            "owning_force": row.owning_force,
            "updated_at": row.updated_at,
        }
    )


def _chunks(ids: Sequence[str], size: int = _IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _one_of(column: Any, ids: Sequence[str]) -> Any:
    """``column IN (ids)`` with the ids written into the SQL rather than bound.

    psycopg prepares a statement it has run five times, and PostgreSQL may then
    keep the plan it made while the table was empty (a full scan), which makes
    the first import of 100,000 nominals into a new database three times slower.
    """
    return column.in_(bindparam("ids", list(ids), expanding=True, literal_execute=True))


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert plain rows (all with the keys of the first) in one executemany of the driver.

    The statement is compiled once and each value converted by its column's type as
    SQLAlchemy would: SQLAlchemy's own per-row parameter handling was a quarter of the
    CPU time of importing 100,000 nominals (py-spy), more than the database's own.
    """
    if not rows:
        return
    connection = session.connection()
    sql, order, processors = _insert_statement(connection.dialect, table, tuple(rows[0]))
    converted = []
    for row in rows:
        values = dict(row)
        for name, process in processors:
            values[name] = process(values[name])
        converted.append(tuple(values[name] for name in order) if order is not None else values)
    connection.exec_driver_sql(sql, converted)


_InsertStatement = tuple[str, tuple[str, ...] | None, list[tuple[str, Callable[[Any], Any]]]]
_INSERT_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], _InsertStatement] = {}


def _insert_statement(dialect: Any, table: Table, columns: tuple[str, ...]) -> _InsertStatement:
    """The driver's SQL for inserting ``columns``, the parameter order (positional styles), the value converters."""
    key = (dialect.name, table.name, columns)
    if key not in _INSERT_STATEMENTS:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        processors: list[tuple[str, Callable[[Any], Any]]] = []
        for name in columns:
            process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        order = tuple(compiled.positiontup) if dialect.positional and compiled.positiontup else None
        _INSERT_STATEMENTS[key] = (compiled.string, order, processors)
    return _INSERT_STATEMENTS[key]


def _decision(row: MatchDecisionRow) -> MatchDecision:
    return MatchDecision(
        mention_id=row.mention_id,
        nominal_id=row.nominal_id,
        decision=row.decision,
        probability=row.probability,
        weights=row.weights,
        model_version=row.model_version,
        decided_at=row.decided_at,
        event=row.event,
        source_partition=row.source_partition,
        source_offset=row.source_offset,
        occurred_at=row.occurred_at,
        role=row.role,
        facts=row.facts,
        prior_weight=row.prior_weight,
        candidates=row.candidates,
    )


# -- the adapter ------------------------------------------------------------------------------


class SqlAlchemyNominalStore:
    """:class:`toex_stream.ports.store.NominalStore` on any database SQLAlchemy reaches (SQLite, PostgreSQL).

    The database must be migrated first (:func:`migrate`).
    """

    def __init__(self, engine: Engine, audit_head: Path | None = None) -> None:
        _enforce_sqlite_foreign_keys(engine)
        self._engine = engine
        # Where the s.62 log's head is kept outside the database, for audited upserts.
        self._audit_head = HeadFile(audit_head) if audit_head is not None else None

    # -- writing nominals --

    def upsert_nominal(self, nominal: contract.Nominal, provenance: Provenance) -> bool:
        return self.upsert_nominals([(nominal, provenance)])[0] != "unchanged"

    def upsert_nominals(
        self,
        entries: Sequence[tuple[contract.Nominal, Provenance]],
        before_commit: Callable[[list[contract.Nominal]], None] | None = None,
        *,
        before_write: Callable[[list[contract.Nominal]], None] | None = None,
        audit: ChangeAudit | None = None,
    ) -> list[UpsertOutcome]:
        outcomes = self._write(entries, before_commit=before_commit, before_write=before_write, audit=audit)
        return [outcomes[nominal.nominal_id] for nominal, _ in entries]

    def _write(
        self,
        entries: Sequence[tuple[contract.Nominal, Provenance]],
        before_commit: Callable[[list[contract.Nominal]], None] | None = None,
        before_write: Callable[[list[contract.Nominal]], None] | None = None,
        audit: ChangeAudit | None = None,
    ) -> dict[str, UpsertOutcome]:
        """Store what changed in one transaction; a repeated id: the later entry wins."""
        latest = {nominal.nominal_id: (nominal, provenance) for nominal, provenance in entries}
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return self._write_once(latest, before_commit, before_write, audit)
            except IntegrityError:
                # Another writer (the worker applying toex.nominals, a second worker making the same
                # provisional nominal) created one of these since we looked: look again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                log.debug("another writer stored one of %d nominals first; writing again", len(latest))
        raise AssertionError("unreachable")

    def _write_once(
        self,
        latest: dict[str, tuple[contract.Nominal, Provenance]],
        before_commit: Callable[[list[contract.Nominal]], None] | None,
        before_write: Callable[[list[contract.Nominal]], None] | None = None,
        audit: ChangeAudit | None = None,
    ) -> dict[str, UpsertOutcome]:
        head = None
        with Session(self._engine) as session, session.begin():
            stored = self._stored_versions(session, list(latest))
            outcomes: dict[str, UpsertOutcome] = {}
            changed: dict[str, dict[str, Any]] = {}
            for nominal_id, (nominal, _) in latest.items():
                row = _nominal_row(nominal)
                previous = stored.get(nominal_id)
                if previous == row["content_hash"]:
                    outcomes[nominal_id] = "unchanged"
                else:
                    outcomes[nominal_id] = "created" if previous is None else "updated"
                    changed[nominal_id] = row
            if before_write is not None and changed:
                before_write([latest[nominal_id][0] for nominal_id in changed])
            if audit is not None and changed:
                head = append(session, _change_records(audit, self._changed_fields(latest, outcomes),
                                                       [i for i in changed if outcomes[i] == "created"]))
            self._replace(session, changed, outcomes)
            self._add_children(session, [latest[nominal_id] for nominal_id in changed])
            if before_commit is not None and changed:
                before_commit([latest[nominal_id][0] for nominal_id in changed])
        if head is not None and self._audit_head is not None:
            self._audit_head.advance(head)
        return outcomes

    def _changed_fields(self, latest: dict[str, tuple[contract.Nominal, Provenance]],
                        outcomes: dict[str, UpsertOutcome]) -> dict[str, list[str]]:
        """For each updated nominal, the names of the fields that changed (the stored version is read as it was
        committed: updates are few, so one read each is cheap)."""
        changes: dict[str, list[str]] = {}
        for nominal_id, outcome in outcomes.items():
            before = self.get_nominal(nominal_id) if outcome == "updated" else None
            if before is None:
                continue
            after = latest[nominal_id][0]
            changes[nominal_id] = [name for name in type(after).model_fields
                                   if name not in _NOT_COMPARED and getattr(before, name) != getattr(after, name)]
        return changes

    def _stored_versions(self, session: Session, nominal_ids: list[str]) -> dict[str, str]:
        """The content hash of each of these nominals that is stored."""
        versions = {}
        for chunk in _chunks(nominal_ids):
            query = select(NominalRow.nominal_id, NominalRow.content_hash).where(_one_of(NominalRow.nominal_id, chunk))
            for nominal_id, digest in session.execute(query):
                versions[nominal_id] = digest
        return versions

    def _replace(self, session: Session, rows: dict[str, dict[str, Any]], outcomes: dict[str, UpsertOutcome]) -> None:
        updated = [nominal_id for nominal_id in rows if outcomes[nominal_id] == "updated"]
        for chunk in _chunks(updated):
            # Provenance stays: it is the history of where each version came from.
            session.execute(delete(AliasRow).where(_one_of(AliasRow.nominal_id, chunk)))
            session.execute(delete(IdentifierRow).where(_one_of(IdentifierRow.nominal_id, chunk)))
        if updated:
            session.execute(update(NominalRow), [rows[nominal_id] for nominal_id in updated])
        created = [rows[nominal_id] for nominal_id in rows if outcomes[nominal_id] == "created"]
        _insert_rows(session, _NOMINALS, created)

    def _add_children(self, session: Session, changed: list[tuple[contract.Nominal, Provenance]]) -> None:
        aliases = [row for nominal, _ in changed for row in _alias_rows(nominal)]
        identifiers = [row for nominal, _ in changed for row in _identifier_rows(nominal)]
        provenance = [
            {
                "nominal_id": nominal.nominal_id,
                "source_kind": source.source_kind,
                "source_ref": source.source_ref,
                "recorded_at": source.recorded_at,
            }
            for nominal, source in changed
        ]
        for table, rows in ((_ALIASES, aliases), (_IDENTIFIERS, identifiers), (_PROVENANCE, provenance)):
            _insert_rows(session, table, rows)

    def erase_nominal(self, nominal_id: str) -> bool:
        # Aliases, identifiers and provenance go with it (ON DELETE CASCADE).
        with Session(self._engine) as session, session.begin():
            # Typed Result, but DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs)
            statement = delete(NominalRow).where(NominalRow.nominal_id == nominal_id)
            result = cast("CursorResult[Any]", session.execute(statement))
        return bool(result.rowcount)

    # -- reading nominals --

    def get_nominal(self, nominal_id: str) -> contract.Nominal | None:
        with Session(self._engine) as session:
            row = session.execute(select(_NOMINALS).where(_NOMINALS.c.nominal_id == nominal_id)).first()
            if row is None:
                return None
            only_this = (nominal_id, nominal_id)
            aliases = self._aliases(session, *only_this)
            return _nominal_from_rows(row, aliases[nominal_id], self._identifiers(session, *only_this)[nominal_id])

    def is_provisional(self, nominal_id: str) -> bool | None:
        with Session(self._engine) as session:
            return session.scalar(select(NominalRow.provisional).where(NominalRow.nominal_id == nominal_id))

    def iter_nominals(
        self, *, provisional: bool | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[contract.Nominal]:
        """Every nominal in id order, a page at a time (keyset paging: no long-lived cursor or transaction)."""
        after: str | None = None
        while True:
            page = self._nominal_page(after, provisional, page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].nominal_id

    def _nominal_page(self, after: str | None, provisional: bool | None, size: int) -> list[contract.Nominal]:
        # Plain rows, not ORM objects: building a million nominals for the match index is the hot path.
        query = select(_NOMINALS).order_by(_NOMINALS.c.nominal_id).limit(size)
        if after is not None:
            query = query.where(_NOMINALS.c.nominal_id > after)
        if provisional is not None:
            query = query.where(_NOMINALS.c.provisional == provisional)
        with Session(self._engine) as session:
            rows = session.execute(query).all()
            if not rows:
                return []
            first, last = rows[0].nominal_id, rows[-1].nominal_id
            aliases = self._aliases(session, first, last)
            identifiers = self._identifiers(session, first, last)
        return [_nominal_from_rows(row, aliases[row.nominal_id], identifiers[row.nominal_id]) for row in rows]

    @staticmethod
    def _aliases(session: Session, first: str, last: str) -> dict[str, list[str]]:
        """The aliases of the nominals with ids from ``first`` to ``last``, in order."""
        query = (
            select(_ALIASES.c.nominal_id, _ALIASES.c.alias)
            .where(_ALIASES.c.nominal_id.between(first, last))
            .order_by(_ALIASES.c.nominal_id, _ALIASES.c.position)
        )
        aliases: dict[str, list[str]] = defaultdict(list)
        for nominal_id, alias in session.execute(query):
            aliases[nominal_id].append(alias)
        return aliases

    @staticmethod
    def _identifiers(session: Session, first: str, last: str) -> dict[str, list[Any]]:
        """The identifiers of the nominals with ids from ``first`` to ``last``, in order."""
        query = (
            select(_IDENTIFIERS.c.nominal_id, _IDENTIFIERS.c.kind, _IDENTIFIERS.c.position, _IDENTIFIERS.c.value)
            .where(_IDENTIFIERS.c.nominal_id.between(first, last))
            .order_by(_IDENTIFIERS.c.nominal_id, _IDENTIFIERS.c.position, _IDENTIFIERS.c.id)
        )
        identifiers: dict[str, list[Any]] = defaultdict(list)
        for identifier in session.execute(query):
            identifiers[identifier.nominal_id].append(identifier)
        return identifiers

    def count_nominals(self, *, provisional: bool | None = None) -> int:
        query = select(func.count()).select_from(NominalRow)
        if provisional is not None:
            query = query.where(NominalRow.provisional == provisional)
        with Session(self._engine) as session:
            return int(session.scalar(query) or 0)

    def find_by_identifier(self, kind: IdentifierKind, value: str) -> list[str]:
        query = (
            select(IdentifierRow.nominal_id)
            .where(IdentifierRow.kind == kind, IdentifierRow.normalised == normalise_identifier(kind, value))
            .distinct()
            .order_by(IdentifierRow.nominal_id)
        )
        with Session(self._engine) as session:
            return list(session.scalars(query))

    def provenance_of(self, nominal_id: str) -> list[Provenance]:
        query = select(ProvenanceRow).where(ProvenanceRow.nominal_id == nominal_id).order_by(ProvenanceRow.id)
        with Session(self._engine) as session:
            return [
                Provenance(row.source_kind, row.source_ref, row.recorded_at)
                for row in session.scalars(query)
            ]

    # -- match decisions --

    def record_decision(self, decision: MatchDecision) -> bool:
        try:
            with Session(self._engine) as session, session.begin():
                session.execute(
                    insert(MatchDecisionRow).values(
                        mention_id=decision.mention_id,
                        nominal_id=decision.nominal_id,
                        decision=decision.decision,
                        probability=decision.probability,
                        weights=decision.weights,
                        model_version=decision.model_version,
                        decided_at=decision.decided_at,
                    )
                )
        except IntegrityError:
            if self._decided(decision.mention_id, decision.model_version):
                return False  # a replay: this model already decided this mention
            raise
        return True

    def record_decisions(self, decisions: Sequence[MatchDecision]) -> int:
        """Keep many decisions in one transaction; those already kept (same mention and model version) are skipped.

        Returns how many were new. A decision repeated within ``decisions`` is kept once (the first).
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return self._record_decisions_once(decisions)
            except IntegrityError:
                # Another worker kept one of them since we looked (a rebalance handed the partition
                # over mid-batch): look again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                log.debug("another writer kept one of %d decisions first; writing again", len(decisions))
        raise AssertionError("unreachable")

    def _record_decisions_once(self, decisions: Sequence[MatchDecision]) -> int:
        wanted: dict[tuple[str, str], MatchDecision] = {}
        for decision in decisions:
            wanted.setdefault((decision.mention_id, decision.model_version), decision)
        if not wanted:
            return 0
        with Session(self._engine) as session, session.begin():
            kept = self._kept_decisions(session, wanted)
            rows = [
                {
                    "mention_id": d.mention_id,
                    "nominal_id": d.nominal_id,
                    "decision": d.decision,
                    "probability": d.probability,
                    "weights": d.weights,
                    "model_version": d.model_version,
                    "decided_at": d.decided_at,
                    "event": d.event,
                    "source_partition": d.source_partition,
                    "source_offset": d.source_offset,
                    "occurred_at": d.occurred_at,
                    "role": d.role,
                    "facts": d.facts,
                    "prior_weight": d.prior_weight,
                    "candidates": d.candidates,
                }
                for key, d in wanted.items()
                if key not in kept
            ]
            if rows:
                session.execute(insert(MatchDecisionRow), rows)
        return len(rows)

    @staticmethod
    def _kept_decisions(session: Session, wanted: dict[tuple[str, str], MatchDecision]) -> set[tuple[str, str]]:
        """Which of these (mention_id, model_version) pairs already have a decision stored."""
        mention_ids = sorted({mention_id for mention_id, _ in wanted})
        kept: set[tuple[str, str]] = set()
        for chunk in _chunks(mention_ids):
            query = select(MatchDecisionRow.mention_id, MatchDecisionRow.model_version).where(
                _one_of(MatchDecisionRow.mention_id, chunk)
            )
            kept.update((mention_id, version) for mention_id, version in session.execute(query))
        return kept

    def _decided(self, mention_id: str, model_version: str) -> bool:
        query = select(MatchDecisionRow.id).where(
            MatchDecisionRow.mention_id == mention_id, MatchDecisionRow.model_version == model_version
        )
        with Session(self._engine) as session:
            return session.scalar(query) is not None

    def decisions_for(self, mention_id: str) -> list[MatchDecision]:
        query = (
            select(MatchDecisionRow)
            .where(MatchDecisionRow.mention_id == mention_id)
            .order_by(MatchDecisionRow.decided_at, MatchDecisionRow.id)
        )
        with Session(self._engine) as session:
            return [_decision(row) for row in session.scalars(query)]
