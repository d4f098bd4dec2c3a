"""Reading the routes: the bundled ``data/routes.yaml`` or a file of one's own, re-read when it changes.

:func:`load_routes` validates a routes file as a whole (the model is
:class:`~toex_stream.domain.alerting.routes.RoutingConfig`) and raises
:class:`~toex_stream.domain.alerting.routes.RoutingError` naming the file, the line
and the YAML path of each problem. :class:`RoutesFile` lets the alert worker
pick up an edit without a restart, keeping the last good routes in force when
the edit does not validate. These are the only parts of routing that read a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from toex_stream.domain.alerting.routes import RoutingConfig, RoutingError
from toex_stream.domain.yamlfile import line_of, read_mapping, yaml_message, yaml_path

__all__ = ["RoutesFile", "load_routes"]

log = logging.getLogger(__name__)

_BUNDLED = ("data", "routes.yaml")


def _parse(text: str, name: str) -> RoutingConfig:
    document, root = read_mapping(
        text, name, RoutingError, "routes are a YAML mapping of receivers and route"
    )

    def where(loc: tuple[int | str, ...], missing: bool = False) -> str:
        # A missing key has no line: point at the mapping that lacks it, unless that is the whole file.
        line = (line_of(root, loc[:-1]) if len(loc) > 1 else None) if missing else line_of(root, loc)
        return f"{name}:{line}" if line else name

    try:
        return RoutingConfig.model_validate(document)
    except ValidationError as error:
        problems = [
            f"{where(tuple(p['loc']), p['type'] == 'missing')}: {yaml_path(tuple(p['loc']))}: {yaml_message(p)}"
            for p in error.errors(include_url=False)
        ]
    except RoutingError as error:
        problems = [f"{where(loc)}: {yaml_path(loc)}: {message}" for loc, message in error.problems]
    raise RoutingError(f"invalid routes {name}:\n  " + "\n  ".join(problems))


def load_routes(path: Path | None = None) -> RoutingConfig:
    """Read and validate a routes file; by default the bundled ``data/routes.yaml``.

    Raises :class:`RoutingError` naming the file, the line and the YAML path of each problem.
    """
    if path is None:
        source = resources.files("toex_stream").joinpath(*_BUNDLED)
        return _parse(source.read_text(encoding="utf-8"), "routes.yaml")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingError(f"cannot read routes {path}: {error.strerror or error}") from None
    return _parse(text, str(path))


class RoutesFile:
    """A routes file that is re-read when it changes, so routes change without a restart.

    The first load must succeed (raises :class:`RoutingError`). After that an
    edit that does not validate is logged once and the last good routes stay
    in force: a typo must never stop the alert worker.
    """

    def __init__(self, path: Path, on_reload: Callable[[Path], None] | None = None) -> None:
        self.path = Path(path)
        self._stamp = self._stat()
        self._config = load_routes(self.path)
        # Told after each reload that took effect (the worker logs it in the s.62 log as an alteration).
        self.on_reload = on_reload

    @classmethod
    def bundled(cls) -> RoutesFile:
        """The default routes shipped with toex-stream (one receiver per region)."""
        return cls(Path(str(resources.files("toex_stream") / "data" / "routes.yaml")))

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    @property
    def config(self) -> RoutingConfig:
        """The routes in force, without looking at the file."""
        return self._config

    def current(self) -> RoutingConfig:
        """The routes in force, re-read first if the file's modification time or size changed."""
        stamp = self._stat()
        if stamp == self._stamp:
            return self._config
        # Remember the stamp even when the edit is bad: the error is logged once, not on every alert.
        self._stamp = stamp
        if stamp is None:
            log.error("routes file missing path=%s; keeping the last good routes", self.path)
            return self._config
        try:
            self._config = load_routes(self.path)
        except RoutingError as error:
            log.error("routes reload failed path=%s; keeping the last good routes: %s", self.path, error)
        else:
            log.info("routes reloaded path=%s", self.path)
            if self.on_reload is not None:
                self.on_reload(self.path)
        return self._config
