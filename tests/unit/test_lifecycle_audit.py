"""Each change a person makes to an alert is in the s.62 log, with who and why, before it is made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.unit.test_alert_lifecycle import ALERT_ID, make_alert
from toex_stream.adapters.sql.audit import SqlAuditTrail, entries, verify
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.application.alert_lifecycle import AlertLifecycle
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.audit import AuditError


@pytest.fixture
def lifecycle(sqlite_engine: Engine, tmp_path: Path) -> AlertLifecycle:
    outbox = Outbox(sqlite_engine)
    outbox.save_alert(make_alert())
    return AlertLifecycle(outbox, load_routes(), lambda key, feedback: None,
                          audit=SqlAuditTrail(sqlite_engine, tmp_path / "audit-head.json"))


def test_acknowledge_assign_and_close_are_logged_with_who_and_why(lifecycle: AlertLifecycle, sqlite_engine: Engine,
                                                                  tmp_path: Path) -> None:
    lifecycle.acknowledge(ALERT_ID, by="analyst-7", reason="in the ERSOU queue")
    lifecycle.assign(ALERT_ID, to="analyst-8", by="supervisor-3", reason="Kent lead")
    lifecycle.close(ALERT_ID, outcome="safeguarded", by="analyst-8", note="two adults safeguarded",
                    reason="visit done")

    logged = [dataclasses.astuple(e.record)[:6] for e in entries(sqlite_engine)]
    assert logged == [
        ("alteration", "alert.acknowledged", "analyst-7", ALERT_ID, "status acknowledged", "in the ERSOU queue"),
        ("alteration", "alert.assigned", "supervisor-3", ALERT_ID, "assigned to analyst-8", "Kent lead"),
        ("alteration", "alert.closed", "analyst-8", ALERT_ID,
         "closed: safeguarded; outcome published on toex.feedback", "visit done"),
    ]
    assert verify(sqlite_engine, tmp_path / "audit-head.json").ok


def test_a_change_without_a_reason_is_refused_and_not_made(lifecycle: AlertLifecycle, sqlite_engine: Engine) -> None:
    with pytest.raises(AuditError, match="analyst-7 must give a reason"):
        lifecycle.acknowledge(ALERT_ID, by="analyst-7")

    assert Outbox(sqlite_engine).alert_details(ALERT_ID)["status"] == "open"
    assert list(entries(sqlite_engine)) == []
