"""A worker's local snapshot of its match index: the nominals it holds and the ``toex.nominals`` offsets they reflect.

A worker that starts with a usable snapshot loads it and reads the topic on
from its offsets, instead of reading every nominal again (minutes at 100,000).
The file is JSON (never pickle: nothing in it is executed), written to a
temporary file, flushed to disk and renamed over the old one, so a crash leaves
the old snapshot or the new one, never half of one.

A snapshot is trusted only for the topic it was taken from: the same name and
the same topic id (a topic deleted and created again has a new id and its
offsets start again), and only while every tombstone written since is still on
the topic: compaction removes a tombstone ``delete.retention.ms`` after it was
written, so an older snapshot could keep a nominal the force erased. Anything
else (missing, unreadable, another format) is no snapshot: the caller reads the
whole topic.

>>> import datetime as dt, tempfile
>>> from toex_stream.domain.matching.records import MatchRecord, NameVariant
>>> record = MatchRecord("N-1", names=(NameVariant(("reka",), ("kovacs",)),), dob=dt.date(2001, 3, 9),
...                      phones=frozenset({"+447700900777"}))
>>> path = Path(tempfile.mkdtemp()) / SNAPSHOT_FILE
>>> write_snapshot(path, [record], "toex.nominals", "id-1", {0: 12, 1: 3})
>>> snapshot = read_snapshot(path, "toex.nominals", "id-1", max_age_s=3600)
>>> snapshot.offsets, snapshot.records == [record]
({0: 12, 1: 3}, True)
>>> read_snapshot(path, "toex.nominals", "id-2", max_age_s=3600) is None  # the topic was created again
True
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from toex_stream.domain.matching.records import MatchRecord, NameVariant

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "nominal-index.snapshot.json"
FORMAT = 1


@dataclass(frozen=True)
class IndexSnapshot:
    """What a snapshot holds: the index's nominals, and per partition the next offset to read."""

    records: list[MatchRecord]
    offsets: dict[int, int]
    written_at: float  # seconds since the epoch


def _row(record: MatchRecord) -> list[Any]:
    return [
        record.record_id,
        [[list(name.given), list(name.family)] for name in record.names],
        record.dob.isoformat() if record.dob is not None else None,
        list(record.birth_years) if record.birth_years is not None else None,
        record.gender,
        record.nationality,
        sorted(record.phones),
        sorted(record.emails),
        record.postcode,
        record.district,
        record.address,
        list(record.flags),
        record.extra,
    ]


def _record(row: list[Any]) -> MatchRecord:
    (record_id, names, dob, birth_years, gender, nationality, phones, emails, postcode, district, address, flags,
     extra) = row  # fmt: skip
    return MatchRecord(
        record_id=record_id,
        names=tuple(NameVariant(tuple(given), tuple(family)) for given, family in names),
        dob=dt.date.fromisoformat(dob) if dob is not None else None,
        birth_years=(birth_years[0], birth_years[1]) if birth_years is not None else None,
        gender=gender,
        nationality=nationality,
        phones=frozenset(phones),
        emails=frozenset(emails),
        postcode=postcode,
        district=district,
        address=address,
        flags=tuple(flags),
        extra=dict(extra),
    )


def snapshot_bytes(records: Iterable[MatchRecord], topic: str, topic_id: str, offsets: dict[int, int]) -> bytes:
    """The snapshot as it is written (built where the index is, so that records and offsets agree)."""
    return orjson.dumps({
        "format": FORMAT,
        "topic": topic,
        "topic_id": topic_id,
        "written_at": time.time(),
        "offsets": {str(partition): offset for partition, offset in sorted(offsets.items())},
        "records": [_row(record) for record in records],
    })  # fmt: skip


def write_bytes(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` atomically: a temporary file, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_snapshot(
    path: Path, records: Iterable[MatchRecord], topic: str, topic_id: str, offsets: dict[int, int]
) -> None:
    write_bytes(path, snapshot_bytes(records, topic, topic_id, offsets))


def read_snapshot(path: Path, topic: str, topic_id: str | None, *, max_age_s: float) -> IndexSnapshot | None:
    """The snapshot at ``path`` if it can be trusted for this topic (see the module); None, logged why, if not."""
    if topic_id is None:
        log.info("no snapshot of the index used: the id of %s is unknown", topic)
        return None
    try:
        content = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        log.info("no snapshot of the index at %s", path)
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("snapshot of the index at %s unreadable (%s): reading all of %s", path, type(exc).__name__, topic)
        return None
    try:
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            log.warning("snapshot of the index at %s has another format: reading all of %s", path, topic)
            return None
        if content["topic"] != topic or content["topic_id"] != topic_id:
            log.warning("snapshot of the index at %s is of another %s (created again since): reading all of it",
                        path, topic)
            return None
        written_at = float(content["written_at"])
        age = time.time() - written_at
        if not 0 <= age < max_age_s:
            log.warning("snapshot of the index at %s is %.0f s old; tombstones may have been compacted away since "
                        "(delete.retention.ms): reading all of %s", path, age, topic)
            return None
        offsets = {int(partition): int(offset) for partition, offset in content["offsets"].items()}
        records = [_record(row) for row in content["records"]]
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("snapshot of the index at %s is damaged (%s): reading all of %s", path, type(exc).__name__, topic)
        return None
    return IndexSnapshot(records, offsets, written_at)
