"""The nominal store on real databases: every test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from toex_stream.adapters.sql import audit as s62  # noqa: F401 - so is the s.62 log
from toex_stream.adapters.sql import casework_models as casework_models  # noqa: F401 - so are the dashboard tables
from toex_stream.adapters.sql import erasure as erasure  # noqa: F401 - so is the erasure register
from toex_stream.adapters.sql import intake_models as intake_models  # noqa: F401 - so are the intake tables
from toex_stream.adapters.sql import outbox_models, silences  # noqa: F401 - their tables are part of the metadata compared
from toex_stream.adapters.sql import replay_audit as audit  # noqa: F401 - so is the replay audit
from toex_stream.adapters.sql.models import AliasRow, Base, IdentifierRow, ProvenanceRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, migrate
from toex_stream.application.nominal_import import import_nominals
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes import RoutingError
from toex_stream.domain.alerting.suppression import MAX_SILENCE
from toex_stream.domain.provisional import provisional_id as provisional_nominal_id
from toex_stream.domain.provisional import provisional_nominal
from toex_stream.ports.store import MatchDecision, Provenance
from toex_stream.tools.simulate import simulate, write_nominals

AT = dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.timezone.utc)
STORE_TABLES = {"nominals", "aliases", "identifiers", "provenance", "match_decisions"}


def kovacs(nominal_id: str = "WMP-N-1", *, phone: str = "07700 900123", at: dt.datetime = AT) -> contract.Nominal:
    return contract.Nominal(
        schema_version=1,
        nominal_id=nominal_id,
        given_name="Réka",
        family_name="Kovács",
        aliases=["Kovács Réka", "Reka K"],
        date_of_birth=dt.date(1994, 3, 12),
        gender="female",
        nationality="HU",
        phones=[phone, "+36 30 123 4567"],
        emails=["Reka.K@Example.com"],
        addresses=[
            contract.Address(text="12 Church Lane", postcode="b19 9te", town="Birmingham"),
            contract.Address(postcode="CT9 1AA"),
        ],
        flags=["known_victim"],
        owning_force="west-midlands",
        updated_at=at,
    )


def imported(ref: str = "nominals.csv:2") -> Provenance:
    return Provenance("import", ref, AT)


def rows_of(engine: Engine, table: type, nominal_id: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(table).where(table.nominal_id == nominal_id))


# -- migrations ------------------------------------------------------------------------------


def test_migrations_build_an_empty_database_and_are_a_no_op_the_second_time(store_engine: Engine) -> None:
    assert not STORE_TABLES & set(inspect(store_engine).get_table_names())

    migrate(store_engine)
    store = SqlAlchemyNominalStore(store_engine)
    store.upsert_nominal(kovacs(), imported())
    migrate(store_engine)

    assert STORE_TABLES <= set(inspect(store_engine).get_table_names())
    with store_engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0018"
    assert store.get_nominal("WMP-N-1") == kovacs()


def test_the_migrations_create_exactly_the_tables_the_models_declare(
    store: SqlAlchemyNominalStore, store_engine: Engine
) -> None:
    with store_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert differences == []


# -- nominals ------------------------------------------------------------------------------------


def test_a_nominal_comes_back_as_it_was_stored(store: SqlAlchemyNominalStore) -> None:
    assert store.upsert_nominal(kovacs(), imported()) is True

    assert store.get_nominal("WMP-N-1") == kovacs()
    assert store.get_nominal("WMP-N-404") is None
    assert store.is_provisional("WMP-N-1") is False


def test_times_are_kept_as_utc_whatever_offset_they_came_with(store: SqlAlchemyNominalStore) -> None:
    budapest = dt.timezone(dt.timedelta(hours=1))
    store.upsert_nominal(kovacs(at=dt.datetime(2026, 11, 1, 10, 30, tzinfo=budapest)), imported())

    updated_at = store.get_nominal("WMP-N-1").updated_at

    assert updated_at == AT and updated_at.utcoffset() == dt.timedelta(0)


def test_identifiers_are_found_however_they_are_written(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominal(kovacs(), imported())

    assert store.find_by_identifier("phone", "+44 (0)7700-900-123") == ["WMP-N-1"]
    assert store.find_by_identifier("phone", "0036301234567") == ["WMP-N-1"]
    assert store.find_by_identifier("email", " reka.k@example.COM") == ["WMP-N-1"]
    assert store.find_by_identifier("postcode", "B19 9TE") == ["WMP-N-1"]
    assert store.find_by_identifier("address", "12, church lane") == ["WMP-N-1"]
    assert store.find_by_identifier("town", "BIRMINGHAM") == ["WMP-N-1"]
    assert store.find_by_identifier("phone", "07700 900999") == []


def test_the_same_content_again_is_unchanged_even_with_a_later_updated_at(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominal(kovacs(), imported())

    changed = store.upsert_nominal(kovacs(at=AT + dt.timedelta(days=3)), imported("nominals.csv:9"))

    assert changed is False
    assert store.get_nominal("WMP-N-1").updated_at == AT
    assert [p.source_ref for p in store.provenance_of("WMP-N-1")] == ["nominals.csv:2"]


def test_new_content_replaces_the_identifiers_and_keeps_the_provenance_history(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominal(kovacs(), imported())

    changed = store.upsert_nominal(kovacs(phone="07700 900999"), Provenance("topic", "toex.nominals:0:17", AT))

    assert changed is True
    assert store.find_by_identifier("phone", "07700 900123") == []
    assert store.find_by_identifier("phone", "07700 900999") == ["WMP-N-1"]
    assert store.get_nominal("WMP-N-1") == kovacs(phone="07700 900999")
    assert [p.source_kind for p in store.provenance_of("WMP-N-1")] == ["import", "topic"]


def test_a_batch_reports_what_happened_to_each_nominal(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominals([(kovacs("N-1"), imported()), (kovacs("N-2"), imported())])
    changed: list[str] = []

    outcomes = store.upsert_nominals(
        [(kovacs("N-1"), imported()), (kovacs("N-2", phone="07700 900999"), imported()), (kovacs("N-3"), imported())],
        before_commit=lambda nominals: changed.extend(n.nominal_id for n in nominals),
    )

    assert outcomes == ["unchanged", "updated", "created"]
    assert changed == ["N-2", "N-3"]
    assert store.count_nominals() == 3


def test_ids_with_quotes_and_backslashes_are_stored_and_replaced_safely(store: SqlAlchemyNominalStore) -> None:
    # The ids of a batch are written into the lookup's SQL: quoting must hold.
    awkward = ["O'Brien-1", "N-2'); DROP TABLE nominals; --", "N\\3", 'N-"4"']

    first = store.upsert_nominals([(kovacs(nominal_id), imported()) for nominal_id in awkward])
    again = store.upsert_nominals([(kovacs(nominal_id, phone="07700 900999"), imported()) for nominal_id in awkward])

    assert (first, again) == (["created"] * 4, ["updated"] * 4)
    assert sorted(store.find_by_identifier("phone", "07700 900999")) == sorted(awkward)
    assert store.find_by_identifier("phone", "07700 900123") == []


def test_erasing_a_nominal_removes_its_aliases_identifiers_and_provenance(
    store: SqlAlchemyNominalStore, store_engine: Engine
) -> None:
    store.upsert_nominal(kovacs("N-1"), imported())
    store.upsert_nominal(kovacs("N-2"), imported())
    assert rows_of(store_engine, IdentifierRow, "N-1") > 0

    assert store.erase_nominal("N-1") is True
    assert store.erase_nominal("N-1") is False

    assert store.get_nominal("N-1") is None
    assert [rows_of(store_engine, table, "N-1") for table in (AliasRow, IdentifierRow, ProvenanceRow)] == [0, 0, 0]
    assert store.find_by_identifier("phone", "07700 900123") == ["N-2"]
    assert store.get_nominal("N-2") == kovacs("N-2")


def test_iter_nominals_streams_every_nominal_page_by_page(store: SqlAlchemyNominalStore) -> None:
    nominals = [kovacs(f"N-{i:05d}", phone=f"07700 9{i:05d}") for i in range(2345)]
    for start in range(0, len(nominals), 1000):
        store.upsert_nominals([(n, imported()) for n in nominals[start : start + 1000]])

    streamed = store.iter_nominals()

    assert next(streamed) == nominals[0]
    assert [nominals[0], *streamed] == nominals
    assert store.count_nominals() == 2345


def test_simulated_nominals_import_on_this_database(tmp_path: Path, store: SqlAlchemyNominalStore) -> None:
    records = simulate("mixed", 3000, seed=1).nominals
    path = tmp_path / "simulated.csv"
    write_nominals(path, records)

    first = import_nominals(path, store)
    second = import_nominals(path, store)

    assert (first.created, first.rejected, first.problems) == (len(records), 0, [])
    assert (second.unchanged, second.created, second.updated) == (len(records), 0, 0)
    assert {n.nominal_id for n in store.iter_nominals()} == {r.record_id for r in records}


def test_two_writers_storing_the_same_new_nominal_at_once_leave_one(store: SqlAlchemyNominalStore) -> None:
    # The importer publishes a batch before it commits, so the worker applying toex.nominals
    # may store the same new nominal while the import's transaction is still open.
    import_has_written = threading.Event()
    outcomes: dict[str, list[str]] = {}

    def importer() -> None:
        def hold_the_transaction_open(_nominals: list[contract.Nominal]) -> None:
            import_has_written.set()
            time.sleep(0.5)

        outcomes["import"] = store.upsert_nominals([(kovacs(), imported())], before_commit=hold_the_transaction_open)

    def worker() -> None:
        import_has_written.wait(timeout=10)
        outcomes["worker"] = store.upsert_nominals([(kovacs(), Provenance("topic", "toex.nominals:0:1", AT))])

    threads = [threading.Thread(target=importer), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == {"import": ["created"], "worker": ["unchanged"]}
    assert store.count_nominals() == 1
    assert store.get_nominal("WMP-N-1") == kovacs()


# -- provisional nominals ----------------------------------------------------------------------


def unmatched_mention(mention_id: str = "toex.adverts:feed-1:A-77#0") -> contract.Mention:
    return contract.Mention(
        mention_id=mention_id,
        role="potential_victim",
        given_name="Lili",
        age=22,
        nationality="HU",
        phones=["+447700900555"],
    )


def test_an_unmatched_mention_becomes_one_provisional_nominal(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominal(kovacs(), imported())
    # As the worker stores what the matcher made of the mention (streams.agents.write_rows).
    created = provisional_nominal(unmatched_mention(), AT)
    from_the_mention = Provenance("event", "toex.adverts:feed-1:A-77#0", AT)

    assert store.upsert_nominal(created, from_the_mention) is True
    # A replay of the same event makes the same nominal: nothing changes.
    assert store.upsert_nominal(provisional_nominal(unmatched_mention(), AT), from_the_mention) is False

    assert created.nominal_id == provisional_nominal_id("toex.adverts:feed-1:A-77#0")
    assert store.get_nominal(created.nominal_id) == created
    assert (created.given_name, created.phones, created.flags) == ("Lili", ["+447700900555"], ["provisional"])
    assert store.is_provisional(created.nominal_id) is True
    assert (store.count_nominals(), store.count_nominals(provisional=True)) == (2, 1)
    assert [n.nominal_id for n in store.iter_nominals(provisional=True)] == [created.nominal_id]
    assert [n.nominal_id for n in store.iter_nominals(provisional=False)] == ["WMP-N-1"]
    # The next advert with that phone finds the provisional nominal: evidence gathers.
    assert store.find_by_identifier("phone", "07700 900555") == [created.nominal_id]
    assert [(p.source_kind, p.source_ref) for p in store.provenance_of(created.nominal_id)] == [
        ("event", "toex.adverts:feed-1:A-77#0")
    ]


def test_a_provisional_nominal_from_the_topic_stays_provisional(store: SqlAlchemyNominalStore) -> None:
    # Another worker's matcher made it and published it: its flag says what it is.
    made_elsewhere = kovacs("prov-785af02fee7c636b").model_copy(update={"flags": ["provisional"]})

    store.upsert_nominal(made_elsewhere, Provenance("topic", "toex.nominals:1:5", AT))

    assert store.is_provisional("prov-785af02fee7c636b") is True
    assert store.count_nominals(provisional=False) == 0


# -- match decisions ------------------------------------------------------------------------------


def decision(
    mention_id: str = "toex.referrals:p1:R-1#0", model_version: str = "fs-1", **changes: object
) -> MatchDecision:
    values: dict[str, object] = {
        "mention_id": mention_id,
        "nominal_id": "WMP-N-1",
        "decision": "match",
        "probability": 0.997,
        "weights": [
            {"field": "family_name", "level": "exact", "weight": 7.2},
            {"field": "phone", "level": "exact", "weight": 9.1},
            {"field": "date_of_birth", "level": "missing", "weight": 0.0},
        ],
        "model_version": model_version,
        "decided_at": AT,
    }
    values.update(changes)
    return MatchDecision(**values)  # type: ignore[arg-type]  # values: dict[str, object], any field overridable


def test_a_decision_is_kept_once_per_mention_and_model_version(store: SqlAlchemyNominalStore) -> None:
    assert store.record_decision(decision()) is True
    # A replay of the same stream with the same model decides again: nothing new is kept.
    assert store.record_decision(decision(probability=0.5, decided_at=AT + dt.timedelta(days=1))) is False
    assert store.record_decision(decision(model_version="fs-2", decided_at=AT + dt.timedelta(days=2))) is True
    assert store.record_decision(decision("toex.referrals:p1:R-2#0", decision="new", nominal_id=None)) is True

    kept = store.decisions_for("toex.referrals:p1:R-1#0")

    assert kept == [decision(), decision(model_version="fs-2", decided_at=AT + dt.timedelta(days=2))]
    assert store.decisions_for("toex.referrals:p1:R-2#0")[0].nominal_id is None
    assert store.decisions_for("nothing") == []


def test_a_decision_outlives_the_erasure_of_its_nominal(store: SqlAlchemyNominalStore) -> None:
    store.upsert_nominal(kovacs(), imported())
    store.record_decision(decision())

    store.erase_nominal("WMP-N-1")

    assert store.decisions_for("toex.referrals:p1:R-1#0") == [decision()]


def test_a_decision_out_of_range_is_refused_before_it_is_stored() -> None:
    with pytest.raises(ValueError, match="probability"):
        decision(probability=1.5)
    with pytest.raises(ValueError, match="decision"):
        decision(decision="maybe")


# -- the s.62 log of changes -------------------------------------------------------------------


def test_an_audited_upsert_logs_what_it_created_and_which_fields_it_changed(
        store_engine: Engine, tmp_path: Path) -> None:
    from toex_stream.adapters.sql.audit import entries, verify
    from toex_stream.ports.store import ChangeAudit

    migrate(store_engine)
    head = tmp_path / "audit-head.json"
    store = SqlAlchemyNominalStore(store_engine, audit_head=head)
    loaded = ChangeAudit("supervisor-1", "monthly load from the force system", "nominals.csv")
    store.upsert_nominals([(kovacs("WMP-N-1"), imported()), (kovacs("WMP-N-2"), imported())], audit=loaded)
    moved = kovacs("WMP-N-1").model_copy(update={"nationality": "RO", "phones": ["07700 900999"]})
    store.upsert_nominals([(moved, imported()), (kovacs("WMP-N-2"), imported())], audit=loaded)

    logged = [(e.record.category, e.record.action, e.record.actor, e.record.subject, e.record.what, e.record.why)
              for e in entries(store_engine)]
    assert logged == [
        ("collection", "nominal.created", "supervisor-1", "nominals.csv", "2 nominal(s) created: WMP-N-1, WMP-N-2",
         "monthly load from the force system"),
        ("alteration", "nominal.updated", "supervisor-1", "WMP-N-1",
         "from nominals.csv; fields changed: nationality, phones", "monthly load from the force system"),
    ]  # the unchanged WMP-N-2 is not logged again
    assert "Kovács" not in repr(logged) and "900999" not in repr(logged)
    assert verify(store_engine, head).ok


def test_silences_keep_what_they_muted_and_who_ended_them_on_both_databases(
        store: SqlAlchemyNominalStore, store_engine: Engine) -> None:
    from toex_stream.adapters.sql.silences import Muted, Silences

    kept_silences = Silences(store_engine, cache_seconds=0)
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
    with pytest.raises(RoutingError, match="at most 7 days"):
        kept_silences.add({"region": "ROCUWM"}, MAX_SILENCE + dt.timedelta(seconds=1), "analyst-1", "too long")
    long = kept_silences.add({"region": "ROCUWM"}, MAX_SILENCE, "analyst-1", "a known operation", starts_at=start)
    [kept] = kept_silences.all()
    assert kept.ends_at - kept.starts_at == MAX_SILENCE and kept.created_by == "analyst-1"
    muted = [Muted(long.silence_id, start + dt.timedelta(hours=h), "N1", f"m{h}", "ROCUWM", "msht", "high",
                   "slack:#rocu-wm") for h in (1, 2)]
    kept_silences.record_muted(muted)
    kept_silences.record_muted(muted[:1])  # a batch read again keeps nothing twice
    assert kept_silences.muted(long.silence_id) == muted
    assert kept_silences.expire(long.silence_id, "supervisor-1", at=start + dt.timedelta(days=1))
    [ended] = kept_silences.all()
    assert ended.ended_by == "supervisor-1" and ended.ends_at == start + dt.timedelta(days=1)
    assert not kept_silences.expire("sil-none", "supervisor-1")
