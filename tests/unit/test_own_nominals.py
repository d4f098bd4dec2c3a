"""The nominals follower passes over the provisional nominals its own worker stored before sending them.

Reading them back is how every worker's index learns of them, but the store
already has them: storing them again was a tenth of a busy worker's time.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import Engine

from streams.followers import _store_nominals
from streams.services import OwnNominals
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.domain import contract
from toex_stream.domain.matching.records import MatchRecord
from toex_stream.ports.store import Provenance


def nominal(nominal_id: str, given: str) -> contract.Nominal:
    return contract.Nominal(schema_version=1, nominal_id=nominal_id, given_name=given, family_name="Okafor",
                            updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))


def record(offset: int, key: str, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(topic=contract.TOPIC_NOMINALS, partition=0, offset=offset, key=key.encode(), value=value)


class CountingStore(SqlAlchemyNominalStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.upserted: list[str] = []

    def upsert_nominals(self, entries, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.upserted += [n.nominal_id for n, _ in entries]
        return super().upsert_nominals(entries, *args, **kwargs)


def test_own_message_is_indexed_not_stored_again_and_others_are_stored(sqlite_engine: Engine) -> None:
    store = CountingStore(sqlite_engine)
    own = OwnNominals()
    mine, theirs = nominal("prov-1", "Ada"), nominal("prov-2", "Bea")
    store.upsert_nominals([(mine, Provenance("event", "m-1"))])  # what the match agent does first
    own.sent(b"prov-1", mine.model_dump_json().encode())
    store.upserted.clear()

    actions = _store_nominals(store, [record(0, "prov-1", mine.model_dump_json().encode()),
                                      record(1, "prov-2", theirs.model_dump_json().encode())], own)

    assert [a.record_id for a in actions if isinstance(a, MatchRecord)] == ["prov-1", "prov-2"]
    assert store.upserted == ["prov-2"]
    assert store.get_nominal("prov-1") == mine and store.get_nominal("prov-2") == theirs
    # Once read back, it is forgotten: the same message again is stored (and changes nothing).
    _store_nominals(store, [record(0, "prov-1", mine.model_dump_json().encode())], own)
    assert store.upserted == ["prov-2", "prov-1"]


def test_a_changed_value_or_a_batch_that_erases_is_applied_in_full(sqlite_engine: Engine) -> None:
    store = CountingStore(sqlite_engine)
    own = OwnNominals()
    mine = nominal("prov-1", "Ada")
    own.sent(b"prov-1", mine.model_dump_json().encode())
    changed = nominal("prov-1", "Adah").model_dump_json().encode()
    _store_nominals(store, [record(0, "prov-1", changed)], own)
    assert store.upserted == ["prov-1"]

    own.sent(b"prov-3", nominal("prov-3", "Cy").model_dump_json().encode())
    actions = _store_nominals(store, [record(1, "prov-3", nominal("prov-3", "Cy").model_dump_json().encode()),
                                      record(2, "prov-1", None)], own)
    assert store.upserted == ["prov-1", "prov-3"]
    assert actions[1] == "prov-1" and store.get_nominal("prov-1") is None


def test_own_nominals_forget_the_oldest_past_the_limit() -> None:
    own = OwnNominals(limit=2)
    for n in range(3):
        own.sent(f"k{n}".encode(), b"v")
    assert not own.stored(b"k0", b"v")
    assert own.stored(b"k1", b"v") and own.stored(b"k2", b"v")
    assert not own.stored(b"k2", b"v")  # once only
