"""What every command group of the command line shares: the consoles, the settings, the migrated database.

Its own module, so that the command groups (``cli``, ``intake.cli``,
``replay.cli``) import it rather than each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

from toex_stream.adapters.settings import Settings, load_settings
from toex_stream.domain.errors import ToexError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from toex_stream.adapters.sql.audit import SqlAuditTrail

console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def cli_settings() -> Settings:
    """The settings from the environment, or an error saying which one is wrong."""
    try:
        return load_settings()
    except ValidationError as exc:
        raise ToexError(f"invalid settings: {exc}") from None


def cli_database() -> Engine:
    """The migrated database of the settings (imported lazily: the command line starts faster)."""
    from toex_stream.adapters.sql.store import build_engine, migrate

    settings = cli_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    return engine


def cli_audit_trail(engine: Engine | None = None) -> SqlAuditTrail:
    """The s.62 log of the settings' database, its head kept where the settings say."""
    from toex_stream.adapters.sql.audit import SqlAuditTrail

    return SqlAuditTrail(engine if engine is not None else cli_database(), cli_settings().audit_head_path)
