"""Importing a force's Person CSV, and applying ``toex.nominals`` messages, into a SQLite store."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.application.nominal_import import (
    InvalidNominalMessage,
    NominalImportError,
    apply_nominal_message,
    import_nominals,
)
from toex_stream.domain import contract
from toex_stream.tools.simulate import simulate, write_nominals

HEADER = "record_id,given_name,family_name,date_of_birth,gender,nationality,phone,email,address,postcode"


def write_csv(tmp_path: Path, *lines: str, name: str = "nominals.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def problems_by_line(report) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for problem in report.problems:
        found.setdefault(problem.line, []).append((problem.field, problem.severity))
    return found


def test_every_simulated_nominal_imports_without_a_problem(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    records = simulate("mixed", 3000, seed=1).nominals
    path = tmp_path / "simulated.csv"
    write_nominals(path, records)

    report = import_nominals(path, sqlite_store)

    assert report.problems == []
    assert (report.read, report.created, report.rejected) == (len(records), len(records), 0)
    assert sqlite_store.count_nominals() == len(records)
    first = records[0].row()
    stored = sqlite_store.get_nominal(first["record_id"])
    assert stored is not None
    assert (stored.given_name, stored.family_name) == (first["given_name"], first["family_name"])
    assert stored.date_of_birth == dt.date.fromisoformat(first["date_of_birth"])
    assert stored.phones == first["phone"].split(";")  # as the force wrote them
    for phone in stored.phones:  # and found whichever way the number is written
        assert first["record_id"] in sqlite_store.find_by_identifier("phone", "+44" + phone.replace(" ", "")[1:])


def test_rejected_rows_are_reported_by_line_and_the_rest_load(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        "N-1,Réka,Kovács,1990-02-01,female,HU,07700 900123,,,",
        ",Anna,Nowak,1988-05-05,female,PL,,,,",  # line 3: no record_id
        "N-2,Ion,Popescu,1979-03-03,male,RO,,,,",
        f"{'N' * 129},Piotr,Nowak,,,,,,,",  # line 5: record_id too long
        "N-1,Réka,Kovacs,,,,,,,",  # line 6: record_id used on line 2
    )

    report = import_nominals(path, sqlite_store)

    assert (report.read, report.created, report.rejected) == (5, 2, 3)
    assert [(p.line, p.field, p.severity) for p in report.errors] == [
        (3, "record_id", "error"),
        (5, "record_id", "error"),
        (6, "record_id", "error"),
    ]
    assert "missing" in report.errors[0].message
    assert "at most 128 characters" in report.errors[1].message
    assert "line 2" in report.errors[2].message
    assert sqlite_store.get_nominal("N-1").family_name == "Kovács"  # the first row of N-1 stands
    assert sqlite_store.get_nominal("N-2") is not None


def test_a_bad_field_is_dropped_with_a_warning_and_the_row_loads(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        "N-1,Réka,Kovács,1990-02-30,female,HU,,,,",  # no 30 February
        "N-2,Ion,Popescu,2999-01-01,male,RO,,,,",  # born in the future
        "N-3,Piotr,Nowak,1985-06-07,male,XX,,,,",  # no such country
        "N-4,Anna,Horváth,1991-01-01,q,HU,,,,",  # no such gender
        "N-5,Mihai,Ionescu,yesterday,male,RO,,,,",  # not a date at all
    )

    report = import_nominals(path, sqlite_store)

    assert (report.created, report.rejected) == (5, 0)
    assert problems_by_line(report) == {
        2: [("date_of_birth", "warning")],
        3: [("date_of_birth", "warning")],
        4: [("nationality", "warning")],
        5: [("gender", "warning")],
        6: [("date_of_birth", "warning")],
    }
    reasons = {p.line: p.message for p in report.problems}
    assert reasons[2].startswith("no such day in the calendar")
    assert reasons[3].startswith("a date of birth cannot be in the future")
    assert reasons[6].startswith("not a date written YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD")
    assert sqlite_store.get_nominal("N-1").date_of_birth is None
    assert sqlite_store.get_nominal("N-1").nationality == "HU"  # only the bad field went
    assert sqlite_store.get_nominal("N-3").nationality is None
    assert sqlite_store.get_nominal("N-4").gender is None


def test_dates_are_read_in_the_three_formats_forces_export(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        "N-1,A,B,1990-02-03,,,,,,",
        "N-2,A,B,03/02/1990,,,,,,",
        "N-3,A,B,19900203,,,,,,",
    )

    report = import_nominals(path, sqlite_store)

    assert report.problems == []
    assert {sqlite_store.get_nominal(f"N-{i}").date_of_birth for i in (1, 2, 3)} == {dt.date(1990, 2, 3)}


def test_unknown_columns_are_ignored_with_one_warning_naming_them(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_csv(
        tmp_path,
        HEADER + ",shoe_size,eye_colour",
        "N-1,Réka,Kovács,,,,,,,,38,brown",
        "N-2,Ion,Popescu,,,,,,,,44,blue",
        "N-3,Anna,Nowak,,,,,,,,39,green",
    )

    with caplog.at_level(logging.DEBUG):
        report = import_nominals(path, sqlite_store)

    assert report.created == 3
    assert [(p.line, p.field, p.severity) for p in report.problems] == [(1, "(header)", "warning")]
    assert "shoe_size, eye_colour" in report.problems[0].message
    assert len([r for r in caplog.records if "shoe_size" in r.getMessage()]) == 1


def test_several_values_in_a_cell_are_separated_by_semicolons(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(
        tmp_path,
        HEADER + ",aliases,flags,owning_force",
        'N-1,Réka,Kovács,,female,HU,07700 900123; +36 30 123 4567,r.k@example.com;RK@Example.com,'
        '"1 High Street, Margate;Flat 2, 9 Mill Lane",CT9 1AA;ME1 2BB,Kovács Réka;Reka K,'
        "ocg_member;Known Victim,Kent",
    )

    report = import_nominals(path, sqlite_store)

    assert report.problems == []
    nominal = sqlite_store.get_nominal("N-1")
    assert nominal.phones == ["07700 900123", "+36 30 123 4567"]
    assert nominal.emails == ["r.k@example.com", "RK@Example.com"]
    assert nominal.aliases == ["Kovács Réka", "Reka K"]
    assert nominal.flags == ["ocg_member", "known_victim"]
    assert nominal.owning_force == "kent"
    assert [(a.text, a.postcode) for a in nominal.addresses] == [
        ("1 High Street, Margate", "CT9 1AA"),
        ("Flat 2, 9 Mill Lane", "ME1 2BB"),
    ]
    assert sqlite_store.find_by_identifier("phone", "+36301234567") == ["N-1"]
    assert sqlite_store.find_by_identifier("email", "rk@example.com") == ["N-1"]
    assert sqlite_store.find_by_identifier("postcode", "me12bb") == ["N-1"]


def test_line_numbers_count_the_lines_of_a_quoted_multiline_cell(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        'N-1,Réka,Kovács,,,,,,"1 High Street\nMargate",CT9 1AA',
        "",
        ",Ion,Popescu,,,,,,,",
    )

    report = import_nominals(path, sqlite_store)

    assert [(p.line, p.field) for p in report.errors] == [(5, "record_id")]


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path, sqlite_store: SqlAlchemyNominalStore) -> None:
    path = tmp_path / "simulated.csv"
    write_nominals(path, simulate("mixed", 3000, seed=1).nominals)
    first_published: list[contract.Nominal] = []
    first = import_nominals(path, sqlite_store, publish=first_published.append)
    stored_before = list(sqlite_store.iter_nominals())
    some_id = stored_before[0].nominal_id
    provenance_before = sqlite_store.provenance_of(some_id)

    again_published: list[contract.Nominal] = []
    second = import_nominals(path, sqlite_store, publish=again_published.append)

    assert len(first_published) == first.created == first.read
    assert (second.created, second.updated, second.unchanged, second.rejected) == (0, 0, first.read, 0)
    assert again_published == []
    assert list(sqlite_store.iter_nominals()) == stored_before  # updated_at included
    assert sqlite_store.provenance_of(some_id) == provenance_before


def test_a_changed_row_is_updated_and_published(tmp_path: Path, sqlite_store: SqlAlchemyNominalStore) -> None:
    first = write_csv(tmp_path, HEADER, "N-1,Réka,Kovács,,,,07700 900123,,,", "N-2,Ion,Popescu,,,,,,,")
    import_nominals(first, sqlite_store)
    changed = write_csv(tmp_path, HEADER, "N-1,Réka,Kovács,,,,07700 900999,,,", "N-2,Ion,Popescu,,,,,,,")
    published: list[contract.Nominal] = []

    report = import_nominals(changed, sqlite_store, publish=published.append)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert [n.phones for n in published] == [["07700 900999"]]
    assert sqlite_store.find_by_identifier("phone", "07700 900123") == []
    assert sqlite_store.find_by_identifier("phone", "07700 900999") == ["N-1"]
    assert [p.source_kind for p in sqlite_store.provenance_of("N-1")] == ["import", "import"]


def test_a_batch_the_broker_did_not_acknowledge_is_not_stored(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore
) -> None:
    path = write_csv(tmp_path, HEADER, *(f"N-{i},A,B,,,,,,," for i in range(5)))
    published: list[str] = []
    flushes = 0

    def flush() -> None:
        nonlocal flushes
        flushes += 1
        if flushes == 2:
            raise RuntimeError("Kafka did not acknowledge the write")

    with pytest.raises(RuntimeError):
        import_nominals(path, sqlite_store, publish=lambda n: published.append(n.nominal_id), flush=flush, batch_size=3)
    stored_after_failure = {n.nominal_id for n in sqlite_store.iter_nominals()}
    retried = import_nominals(path, sqlite_store, publish=lambda n: published.append(n.nominal_id), batch_size=3)

    assert stored_after_failure == {"N-0", "N-1", "N-2"}  # the first batch was acknowledged
    assert (retried.created, retried.unchanged) == (2, 3)
    assert published == ["N-0", "N-1", "N-2", "N-3", "N-4", "N-3", "N-4"]  # the unacknowledged ones, again


def test_progress_is_told_every_row_handled(tmp_path: Path, sqlite_store: SqlAlchemyNominalStore) -> None:
    path = write_csv(tmp_path, HEADER, *(f"N-{i},A,B,,,,,,," for i in range(7)), ",no,id,,,,,,,")
    steps: list[int] = []

    import_nominals(path, sqlite_store, progress=steps.append, batch_size=3)

    assert sum(steps) == 8


def test_a_file_without_a_record_id_column_is_refused(tmp_path: Path, sqlite_store: SqlAlchemyNominalStore) -> None:
    path = write_csv(tmp_path, "id,given_name,family_name", "N-1,Réka,Kovács")

    with pytest.raises(NominalImportError, match="no record_id column"):
        import_nominals(path, sqlite_store)


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path, sqlite_store: SqlAlchemyNominalStore) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\nN-1,R\xe9ka,Kov\xe1cs,,,,,,,\n").encode("latin-1"))

    with pytest.raises(NominalImportError, match="not UTF-8"):
        import_nominals(path, sqlite_store)


# -- toex.nominals messages -------------------------------------------------------------


def nominal_json(
    nominal_id: str = "N-1", phone: str = "07700 900123", updated_at: str = "2026-11-01T09:00:00Z"
) -> bytes:
    return contract.Nominal(
        schema_version=1,
        nominal_id=nominal_id,
        given_name="Réka",
        family_name="Kovács",
        aliases=["Kovács Réka"],
        phones=[phone],
        addresses=[contract.Address(text="1 High Street", postcode="CT9 1AA", town="Margate")],
        updated_at=dt.datetime.fromisoformat(updated_at),
    ).model_dump_json().encode()


def test_a_nominal_on_the_topic_is_upserted_once(sqlite_store: SqlAlchemyNominalStore) -> None:
    assert apply_nominal_message(sqlite_store, b"N-1", nominal_json()) == "upserted"
    # Compaction and replays deliver the same nominal again, perhaps with a later updated_at.
    assert apply_nominal_message(sqlite_store, b"N-1", nominal_json(updated_at="2026-11-02T09:00:00Z")) == "unchanged"
    assert apply_nominal_message(sqlite_store, b"N-1", nominal_json(phone="07700 900999")) == "upserted"
    assert sqlite_store.get_nominal("N-1").phones == ["07700 900999"]
    assert sqlite_store.provenance_of("N-1")[0].source_kind == "topic"


def test_a_tombstone_erases_the_nominal_with_its_identifiers(sqlite_store: SqlAlchemyNominalStore) -> None:
    apply_nominal_message(sqlite_store, b"N-1", nominal_json())
    apply_nominal_message(sqlite_store, b"N-2", nominal_json("N-2", phone="07700 900555"))

    assert apply_nominal_message(sqlite_store, b"N-1", None) == "erased"
    assert apply_nominal_message(sqlite_store, b"N-1", None) == "absent"
    assert sqlite_store.get_nominal("N-1") is None
    assert sqlite_store.find_by_identifier("phone", "07700 900123") == []
    assert sqlite_store.find_by_identifier("postcode", "CT9 1AA") == ["N-2"]
    assert sqlite_store.provenance_of("N-1") == []


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"N-1", b'{"nominal_id": "N-1", "family_name": "Kov\xc3\xa1cs"', "Invalid JSON"),
        (b"N-1", b'{"schema_version": 1, "nominal_id": "N-1", "nationality": "Kovacs", '
                 b'"updated_at": "2026-11-01T09:00:00Z"}', "nationality"),
        (b"N-9", nominal_json("N-1"), "key differs"),
        (b"\xff", nominal_json(), "not a UTF-8"),
    ],
)  # fmt: skip
def test_an_invalid_topic_value_raises_a_reason_without_values(
    sqlite_store: SqlAlchemyNominalStore, key: bytes, value: bytes, reason: str
) -> None:
    with pytest.raises(InvalidNominalMessage, match=reason) as raised:
        apply_nominal_message(sqlite_store, key, value)

    assert "Kov" not in str(raised.value)
    assert sqlite_store.count_nominals() == 0


# -- personal data stays out of problems and logs ---------------------------------------------

SECRETS = {
    "family_name": "Zsigmondfalvi" * 8,  # too long
    "date_of_birth": "1987-13-45",
    "nationality": "QZ",
    "gender": "sometimes",
    "phone": "0" + "7" * 70,  # too long
    "email": "zsigmond" * 40 + "@example.com",  # too long
    "postcode": "QQ" * 10,  # too long
}


def test_no_personal_data_in_any_problem_or_log_record(
    tmp_path: Path, sqlite_store: SqlAlchemyNominalStore, caplog: pytest.LogCaptureFixture
) -> None:
    s = SECRETS
    path = write_csv(
        tmp_path,
        HEADER + ",mother_maiden_name",
        f"N-1,Erzsébet,{s['family_name']},{s['date_of_birth']},{s['gender']},{s['nationality']},"
        f"{s['phone']},{s['email']},1 Secret Lane,{s['postcode']},Vörösmarty",
        f"N-2,Erzsébet,Kovács,2999-01-01,female,HU,{s['phone']};07700 900123,,,,",
        f",Erzsébet,{s['family_name']},,,,,,,,",
    )

    with caplog.at_level(logging.DEBUG):
        report = import_nominals(path, sqlite_store)

    assert report.created == 2 and report.rejected == 1
    assert len(report.warnings) >= 8
    said = [str(p) for p in report.problems] + [r.getMessage() for r in caplog.records]
    for secret in [*SECRETS.values(), "Erzsébet", "Kovács", "Secret Lane", "Vörösmarty", "2999-01-01"]:
        assert not [line for line in said if secret in line], secret
    assert sqlite_store.get_nominal("N-2").phones == ["07700 900123"]
