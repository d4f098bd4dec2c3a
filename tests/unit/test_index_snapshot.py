"""The worker's snapshot of its match index: trusted only when whole, of this topic, and young enough."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from toex_stream.adapters.index_snapshot import read_snapshot, snapshot_bytes, write_bytes, write_snapshot
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.records import MatchRecord, NameVariant

TOPIC = "toex.nominals"


def records() -> list[MatchRecord]:
    return [
        MatchRecord("N-1", names=(NameVariant(("reka",), ("kovacs",)), NameVariant(("reka",), ("kovacs", "szabo"))),
                    dob=dt.date(2001, 3, 9), gender="female", nationality="HU", phones=frozenset({"+447700900777"}),
                    emails=frozenset({"r@example.org"}), postcode="CT9 1AA", district="CT9", address="1 high street",
                    flags=("ocg_member",)),
        MatchRecord("N-2", birth_years=(1990, 1992), extra={"source": "x"}),
    ]


def test_a_snapshot_gives_back_the_index_it_was_taken_from(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    write_snapshot(path, records(), TOPIC, "id-1", {0: 5, 1: 0})

    snapshot = read_snapshot(path, TOPIC, "id-1", max_age_s=60)

    assert snapshot is not None and snapshot.records == records() and snapshot.offsets == {0: 5, 1: 0}
    original, restored = Matcher(), Matcher()
    original.load(records())
    restored.load(snapshot.records)
    assert restored.index.buckets == original.index.buckets
    assert restored.model.term_counts == original.model.term_counts
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"], "no temporary file left behind"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no snapshot"),
        (b"{not json", "unreadable"),
        (b"[]", "another format"),
        (orjson.dumps({"format": 99}), "another format"),
        (snapshot_bytes(records(), "toex.other", "id-1", {0: 1}), "of another"),
        (snapshot_bytes(records(), TOPIC, "id-0", {0: 1}), "of another"),
        # Built when the test runs, not when it is collected: a snapshot's age counts from its written_at.
        (lambda: orjson.dumps({**orjson.loads(snapshot_bytes([], TOPIC, "id-1", {0: 1})),
                               "written_at": time.time() - 120}), "old"),
        (lambda: orjson.dumps({**orjson.loads(snapshot_bytes([], TOPIC, "id-1", {0: 1})), "records": [["N-1"]]}),
         "damaged"),
        (lambda: orjson.dumps({**orjson.loads(snapshot_bytes([], TOPIC, "id-1", {0: 1})), "offsets": {"0": "x"}}),
         "damaged"),
    ],
)  # fmt: skip
def test_a_snapshot_that_cannot_be_trusted_is_none_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | Callable[[], bytes] | None, why: str
) -> None:
    path = tmp_path / "snapshot.json"
    if callable(content):
        content = content()
    if content is not None:
        write_bytes(path, content)

    with caplog.at_level(logging.INFO):
        assert read_snapshot(path, TOPIC, "id-1", max_age_s=60) is None
    assert why in caplog.text


def test_without_the_topic_id_no_snapshot_is_trusted(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    write_snapshot(path, records(), TOPIC, "id-1", {0: 5})
    assert read_snapshot(path, TOPIC, None, max_age_s=60) is None
