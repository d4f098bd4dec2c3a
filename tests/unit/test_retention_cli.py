"""``toex-stream retention``: the policy table, and a run by an admin (SQLite, no broker: nothing to tombstone)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.unit.test_cli import NO_BROKER, toex
from tests.users_helpers import settings_of, signed_in
from toex_stream.adapters.sql.audit import entries
from toex_stream.adapters.sql.models import MatchDecisionRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.domain.clock import utc_now
from toex_stream.ports.store import MatchDecision


def _decisions(env: dict[str, str], *ages_days: int) -> None:
    engine = build_engine(settings_of(env))
    migrate(engine)
    SqlAlchemyNominalStore(engine).record_decisions([
        MatchDecision(mention_id=f"m-{age}", nominal_id="N-1", decision="match", probability=0.9, weights=[],
                      model_version="m1", decided_at=utc_now() - dt.timedelta(days=age)) for age in ages_days])
    engine.dispose()


def _count(env: dict[str, str]) -> int:
    engine = build_engine(settings_of(env))
    with Session(engine) as session:
        count = int(session.scalar(select(func.count(MatchDecisionRow.id))) or 0)
    engine.dispose()
    return count


def test_show_lists_every_category_with_its_period(tmp_path: Path) -> None:
    shown = toex("retention", "show", env={"TOEX_DATA_DIR": str(tmp_path), "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "provisional_nominals" in shown.stdout and "180 days" in shown.stdout
    assert "as long as the" in shown.stdout and "toex.training" in shown.stdout


def test_an_admin_runs_it_dry_then_for_real_and_the_erasure_is_in_their_name(tmp_path: Path) -> None:
    env = signed_in({"TOEX_DATA_DIR": str(tmp_path), **NO_BROKER}, tmp_path / "session", "admin-1", "admin")
    _decisions(env, 400, 10)

    dry = toex("retention", "run", "--dry-run", env={**env, "COLUMNS": "200"})
    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout and _count(env) == 2

    done = toex("retention", "run", env={**env, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "deleted" in done.stdout and _count(env) == 1
    engine = build_engine(settings_of(env))
    [erasure] = [e.record for e in entries(engine) if e.record.category == "erasure"]
    engine.dispose()
    assert (erasure.actor, erasure.subject) == ("admin-1", "match_decisions")


def test_an_analyst_may_not_run_it(tmp_path: Path) -> None:
    env = signed_in({"TOEX_DATA_DIR": str(tmp_path), **NO_BROKER}, tmp_path / "session", "analyst-1", "analyst")
    refused = toex("retention", "run", "--dry-run", env=env)
    assert refused.returncode != 0 and "retention" in refused.stderr
