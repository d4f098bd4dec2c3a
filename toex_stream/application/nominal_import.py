"""Loading known nominals: from a force's Person CSV, and from the compacted ``toex.nominals`` topic.

The CSV has the columns of a force's Person export (``record_id, given_name, family_name,
date_of_birth, gender, nationality, phone, email, address, postcode`` and
optionally ``aliases, flags, owning_force``); several values in one cell are
separated by ``;``, and the n-th address goes with the n-th postcode.

A row that cannot become a nominal (no record_id) is reported with its line
number and reason and the rest load. A bad field that can be dropped (an
impossible date, an unknown nationality code) is dropped with a warning and
the row loads without it. Problems name the column and what was wrong, never
the value: the values are personal data.

Importing the same file again changes nothing: a nominal's content hash leaves
out ``updated_at``, so an unchanged row is counted ``unchanged`` and neither
stored nor published again.

>>> parse_date("1990-02-28"), parse_date("28/02/1990"), parse_date("19900228")
(datetime.date(1990, 2, 28), datetime.date(1990, 2, 28), datetime.date(1990, 2, 28))
>>> split_cell(" 07700 900123 ; ;+36 30 123 4567")
['07700 900123', '+36 30 123 4567']
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from toex_stream.domain import contract
from toex_stream.domain.clock import utc_now
from toex_stream.domain.errors import ToexError
from toex_stream.domain.matching.dates import DateProblem, read_date
from toex_stream.ports.store import ChangeAudit, NominalStore, Provenance

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "record_id", "given_name", "family_name", "date_of_birth", "gender", "nationality",
    "phone", "email", "address", "postcode",
)  # fmt: skip
OPTIONAL_COLUMNS = ("aliases", "flags", "owning_force")
KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
SEPARATOR = ";"
BATCH_SIZE = 5000  # rows per transaction, and per wait for the broker's acknowledgements

Severity = Literal["error", "warning"]
NominalMessageOutcome = Literal["upserted", "unchanged", "erased", "absent"]


class NominalImportError(ToexError):
    """The file as a whole cannot be imported (unreadable, not CSV, no record_id column)."""


class InvalidNominalMessage(ToexError):
    """A value on ``toex.nominals`` that is not a valid Nominal; the reason holds no field values."""


@dataclass(frozen=True)
class RowProblem:
    """What was wrong with one row of the CSV.

    ``field`` is the CSV column; for a column holding several ``;``-separated
    values, ``[n]`` says which (counting from 1): ``phone[2]``. An ``error``
    lost the row; a ``warning`` dropped the field and the row loaded.
    """

    line: int
    field: str
    message: str
    severity: Severity

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message} ({self.severity})"


@dataclass
class ImportReport:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[RowProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[RowProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        return (
            f"{self.read} rows read: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected, {len(self.warnings)} warnings"
        )

    def problem(self, line: int, column: str, message: str, severity: Severity) -> None:
        # Logged at INFO only: the caller shows the report; the worker's logs keep a trace.
        self.problems.append(RowProblem(line, column, message, severity))
        log.info("nominal import line %d: %s: %s (%s)", line, column, message, severity)


# -- cells ---------------------------------------------------------------------------

_GENDER_CODES = {"f": "female", "m": "male", "u": "unknown"}
# "UK" is not an ISO 3166-1 code, but force systems write it for British nationals.
_COUNTRY_ALIASES = {"UK": "GB"}


class CellProblem(ValueError):
    """A cell that cannot be used; the message holds no value."""


def split_cell(cell: str) -> list[str]:
    """The ``;``-separated values of a cell, trimmed, empty ones left out."""
    return [value.strip() for value in cell.split(SEPARATOR) if value.strip()]


def parse_date(cell: str) -> dt.date:
    """A date written YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD (UK order: day first)."""
    try:
        return read_date(cell)
    except DateProblem as exc:
        raise CellProblem(str(exc)) from None


def _text(cell: str) -> str | None:
    return cell.strip() or None


def _gender(cell: str) -> str | None:
    code = cell.strip().lower()
    return _GENDER_CODES.get(code, code) or None


def _country(cell: str) -> str | None:
    code = cell.strip().upper()
    return _COUNTRY_ALIASES.get(code, code) or None


def _flag(value: str) -> str:
    return re.sub(r"[\s-]+", "_", value.lower())


def _force_code(cell: str) -> str | None:
    return re.sub(r"[\s_]+", "-", cell.strip().lower()) or None


def _addresses(address_cell: str, postcode_cell: str) -> list[dict[str, str | None]]:
    pairs = zip_longest(split_cell(address_cell), split_cell(postcode_cell))
    return [{"text": text, "postcode": postcode} for text, postcode in pairs]


# -- a row to a nominal ------------------------------------------------------------------

# Where a contract field came from in the CSV, to name it in a problem.
_COLUMN_OF_FIELD = {
    "nominal_id": "record_id", "phones": "phone", "emails": "email",
    "addresses.text": "address", "addresses.postcode": "postcode",
}  # fmt: skip


def _nominal_fields(cells: dict[str, str], imported_at: dt.datetime) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "nominal_id": cells.get("record_id", "").strip(),
        "given_name": _text(cells.get("given_name", "")),
        "family_name": _text(cells.get("family_name", "")),
        "aliases": split_cell(cells.get("aliases", "")),
        "date_of_birth": None,  # parsed on its own: its problems have their own words
        "gender": _gender(cells.get("gender", "")),
        "nationality": _country(cells.get("nationality", "")),
        "phones": split_cell(cells.get("phone", "")),
        "emails": split_cell(cells.get("email", "")),
        "addresses": _addresses(cells.get("address", ""), cells.get("postcode", "")),
        "flags": [_flag(flag) for flag in split_cell(cells.get("flags", ""))],
        "owning_force": _force_code(cells.get("owning_force", "")),
        "updated_at": imported_at,
    }


def _column(loc: tuple[int | str, ...]) -> str:
    """The CSV column (with the value's position in its cell) that a contract error location points at."""
    name = str(loc[0])
    if name == "addresses" and len(loc) >= 3:
        return f"{_COLUMN_OF_FIELD[f'addresses.{loc[2]}']}[{int(loc[1]) + 1}]"
    column = _COLUMN_OF_FIELD.get(name, name)
    if len(loc) >= 2 and isinstance(loc[1], int):
        return f"{column}[{loc[1] + 1}]"
    return column


def _reason(error: ErrorDetails) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _drop(fields: dict[str, Any], error: ErrorDetails) -> str:
    """Remove what an error points at from ``fields``; say what was done."""
    loc = error["loc"]
    name = str(loc[0])
    if error["type"] == "too_long" and len(loc) == 1 and isinstance(fields[name], list):
        keep = error["ctx"]["max_length"]
        fields[name] = fields[name][:keep]
        return f"more than {keep} values; only the first {keep} were kept"
    if len(loc) == 1:
        fields[name] = [] if isinstance(fields[name], list) else None
    elif name == "addresses" and len(loc) >= 3:
        fields[name][loc[1]][loc[2]] = None
    else:
        fields[name][loc[1]] = None  # removed below, once every error of the row is handled
    return f"{_reason(error)}; dropped, the row loaded without it"


def _validated_nominal(line: int, fields: dict[str, Any], report: ImportReport) -> contract.Nominal | None:
    """The row's nominal, with each droppable bad field dropped and reported; None if the row is lost."""
    for _ in range(3):  # a second pass only meets what dropping changed; a third never runs in practice
        try:
            return contract.Nominal.model_validate(fields)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
        fatal = [e for e in errors if e["loc"][0] in ("nominal_id", "schema_version", "updated_at")]
        if fatal:
            for error in fatal:
                report.problem(line, _column(error["loc"]), f"{_reason(error)}; the row was not loaded", "error")
            return None
        for error in errors:
            report.problem(line, _column(error["loc"]), _drop(fields, error), "warning")
        for name in ("aliases", "phones", "emails", "flags"):
            fields[name] = [value for value in fields[name] if value is not None]
        fields["addresses"] = [a for a in fields["addresses"] if a is not None and (a["text"] or a["postcode"])]
    report.problem(line, "(row)", "still not valid after dropping its bad fields; the row was not loaded", "error")
    return None


def nominal_from_row(
    line: int, cells: dict[str, str], imported_at: dt.datetime, report: ImportReport
) -> contract.Nominal | None:
    """One CSV row (cells by column name) as a nominal; problems go to ``report``."""
    fields = _nominal_fields(cells, imported_at)
    if not fields["nominal_id"]:
        report.problem(line, "record_id", "missing; every row needs the force's record id", "error")
        return None
    date_cell = cells.get("date_of_birth", "").strip()
    if date_cell:
        try:
            fields["date_of_birth"] = parse_date(date_cell)
        except CellProblem as problem:
            report.problem(line, "date_of_birth", f"{problem}; dropped, the row loaded without it", "warning")
    return _validated_nominal(line, fields, report)


# -- the file -----------------------------------------------------------------------------


def _header(reader: Any, path: Path, report: ImportReport) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise NominalImportError(f"{path} is empty; expected a header line naming the columns") from None
    if "record_id" not in header:
        raise NominalImportError(
            f"{path} has no record_id column; the header must name the columns: {', '.join(REQUIRED_COLUMNS)}"
        )
    unknown = [name or "(unnamed)" for name in header if name not in KNOWN_COLUMNS]
    if unknown:
        report.problem(1, "(header)", f"unknown columns ignored: {', '.join(unknown)}", "warning")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        report.problem(1, "(header)", f"columns missing, read as empty: {', '.join(missing)}", "warning")
    return header


def _rows(path: Path, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the row starts, cells by column) for each non-blank row after the header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            yield from _csv_rows(csv.reader(file), path, report)
    except OSError as exc:
        raise NominalImportError(f"cannot read {path}: {exc.strerror}") from None


def _csv_rows(reader: Any, path: Path, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    line = 0  # the last line read: a quoted cell may span several
    try:
        header = _header(reader, path, report)
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if (cells and cells[0].strip()) or any(cell.strip() for cell in cells):  # the first cell: the usual case
                yield start, _cells_by_column(header, cells, start, report)
    except UnicodeDecodeError:
        raise NominalImportError(
            f"{path}: line {line + 1} is not UTF-8 text; save the file as UTF-8 (Excel: CSV UTF-8). "
            "Rows before it were loaded; importing again after fixing it is safe"
        ) from None
    except csv.Error as exc:
        raise NominalImportError(f"{path}: line {line + 1} is not valid CSV: {exc}") from None


def _cells_by_column(header: list[str], cells: list[str], line: int, report: ImportReport) -> dict[str, str]:
    if len(cells) > len(header):
        extra = len(cells) - len(header)
        report.problem(line, "(row)", f"{extra} more cells than the header; ignored", "warning")
    return {name: cell for name, cell in zip(header, cells, strict=False) if name in KNOWN_COLUMNS}


def import_nominals(
    path: Path,
    store: NominalStore,
    publish: Callable[[contract.Nominal], None] | None = None,
    progress: Callable[[int], None] = lambda _rows: None,
    *,
    flush: Callable[[], None] | None = None,
    batch_size: int = BATCH_SIZE,
    audit: ChangeAudit | None = None,
) -> ImportReport:
    """Load a Person CSV into the store; ``publish`` each created or updated nominal.

    Rows are stored ``batch_size`` at a time, one transaction each. A batch's
    changed nominals are published, then ``flush`` is called (make it wait for
    the broker's acknowledgements and raise if any failed), and only then does
    the batch commit: a batch that could not be published is not stored, and
    importing again sends it. ``progress(n)`` is told each time ``n`` more rows
    were handled. With ``audit`` each batch's creations and changes are logged (s.62) as it commits.
    """
    imported_at = utc_now()
    hooks = _publisher(publish, flush)
    report = ImportReport()
    first_line: dict[str, int] = {}
    batch: list[tuple[contract.Nominal, Provenance]] = []
    handled = 0
    for line, cells in _rows(path, report):
        report.read += 1
        handled += 1
        nominal = nominal_from_row(line, cells, imported_at, report)
        if nominal is None or _seen_before(nominal, line, first_line, report):
            report.rejected += 1
            continue
        batch.append((nominal, Provenance("import", f"{path.name}:{line}", imported_at)))
        if len(batch) >= batch_size:
            _store_batch(store, batch, hooks, report, audit)
            progress(handled)
            batch, handled = [], 0
    _store_batch(store, batch, hooks, report, audit)
    progress(handled)
    log.info("imported %s: %s", path.name, report.summary())
    return report


def _seen_before(nominal: contract.Nominal, line: int, first_line: dict[str, int], report: ImportReport) -> bool:
    """Whether an earlier row of the file had this record_id (then this row is an error)."""
    first = first_line.setdefault(nominal.nominal_id, line)
    if first == line:
        return False
    report.problem(line, "record_id", f"already used on line {first}; the row was not loaded", "error")
    return True


def _publisher(
    publish: Callable[[contract.Nominal], None] | None, flush: Callable[[], None] | None
) -> tuple[Callable[[list[contract.Nominal]], None] | None, Callable[[list[contract.Nominal]], None] | None]:
    """What the store calls before it writes a batch (send it) and before it commits (wait for the broker).

    Sending first lets the broker take the batch while the database writes it: waiting for its
    acknowledgements after the writes was a tenth of an import's time.
    """
    if publish is None:
        return None, None

    def publish_batch(nominals: list[contract.Nominal]) -> None:
        for nominal in nominals:
            publish(nominal)

    def wait_for_broker(_nominals: list[contract.Nominal]) -> None:
        if flush is not None:
            flush()

    return publish_batch, wait_for_broker


def _store_batch(
    store: NominalStore,
    batch: list[tuple[contract.Nominal, Provenance]],
    hooks: tuple[Callable[[list[contract.Nominal]], None] | None, Callable[[list[contract.Nominal]], None] | None],
    report: ImportReport,
    audit: ChangeAudit | None = None,
) -> None:
    if not batch:
        return
    before_write, before_commit = hooks
    logged = {"audit": audit} if audit is not None else {}
    for outcome in store.upsert_nominals(batch, before_commit=before_commit, before_write=before_write, **logged):
        setattr(report, outcome, getattr(report, outcome) + 1)


# -- the topic ----------------------------------------------------------------------------


def apply_nominal_message(
    store: NominalStore, key: bytes, value: bytes | None, *, source_ref: str = contract.TOPIC_NOMINALS
) -> NominalMessageOutcome:
    """Apply one ``toex.nominals`` message: a Nominal upserts, a null value (tombstone) erases.

    ``source_ref`` (say ``"toex.nominals:2:1045"``) is kept as the provenance of an upsert.
    """
    nominal_id, nominal = parse_nominal_message(key, value)
    if nominal is None:
        return "erased" if store.erase_nominal(nominal_id) else "absent"
    changed = store.upsert_nominal(nominal, Provenance("topic", source_ref))
    return "upserted" if changed else "unchanged"


def parse_nominal_message(key: bytes | None, value: bytes | None) -> tuple[str, contract.Nominal | None]:
    """The nominal_id and the Nominal of a ``toex.nominals`` message (None for a tombstone); invalid ones raise."""
    try:
        nominal_id = (key if key is not None else b"").decode("utf-8")
    except (AttributeError, UnicodeDecodeError):
        raise InvalidNominalMessage("the message key is not a UTF-8 nominal_id") from None
    if value is None:
        return nominal_id, None
    try:
        nominal = contract.Nominal.model_validate_json(value)
    except ValidationError as exc:
        reasons = "; ".join(f"{error.path}: {error.message}" for error in contract.field_errors(exc))
        raise InvalidNominalMessage(f"not a valid Nominal: {reasons}") from None
    if nominal.nominal_id != nominal_id:
        raise InvalidNominalMessage(
            "the message key differs from the value's nominal_id; the key must be the nominal_id, "
            "or a later tombstone would not erase it"
        )
    return nominal_id, nominal


@dataclass(frozen=True)
class AppliedMessage:
    """One ``toex.nominals`` message as applied to the store: the nominal (None: erased) and what it changed."""

    nominal_id: str
    nominal: contract.Nominal | None
    outcome: NominalMessageOutcome


def apply_nominal_messages(
    store: NominalStore, messages: Sequence[tuple[bytes | None, bytes | None, str]]
) -> list[AppliedMessage | InvalidNominalMessage]:
    """Apply ``(key, value, source_ref)`` messages in order, the upserts between two tombstones in one transaction.

    One result per message: what it did, or why it is not a valid message (it
    changed nothing). Applying the same messages again changes nothing more.
    """
    results: list[AppliedMessage | InvalidNominalMessage] = []
    run: list[tuple[int, contract.Nominal, Provenance]] = []

    def store_run() -> None:
        outcomes = store.upsert_nominals([(nominal, provenance) for _, nominal, provenance in run])
        for (position, nominal, _), outcome in zip(run, outcomes, strict=True):
            results[position] = AppliedMessage(nominal.nominal_id, nominal,
                                               "unchanged" if outcome == "unchanged" else "upserted")
        run.clear()

    for key, value, source_ref in messages:
        try:
            nominal_id, nominal = parse_nominal_message(key, value)
        except InvalidNominalMessage as exc:
            results.append(exc)
            continue
        if nominal is not None:
            results.append(AppliedMessage(nominal_id, nominal, "upserted"))  # its outcome once the run is stored
            run.append((len(results) - 1, nominal, Provenance("topic", source_ref)))
            continue
        if run:
            store_run()  # in order: an upsert before this tombstone is stored first
        results.append(AppliedMessage(nominal_id, None, "erased" if store.erase_nominal(nominal_id) else "absent"))
    if run:
        store_run()
    return results
