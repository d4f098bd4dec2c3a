"""Retention: how long each category of data is kept, and why; read from ``data/retention.yaml`` or one's own file.

Every category must be stated, with a period and a reason: nothing is kept by
accident. A period is a whole number of days (at least 1), except for
``training_examples``, which are kept as long as the model needs them
(``days: model``): every worker learns the same model by reading
``toex.training`` from its start, so that topic is kept for ever.

The same policy sets the topics' ``retention.ms`` (``toex_stream/adapters/topics.py``)
and tells ``toex-stream retention run`` (and the worker's hourly job) what is due
in the database.

>>> import datetime as dt
>>> policy = load_retention()
>>> now = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)
>>> policy.due_before("alerts", now).date(), policy.due_before("training_examples", now)
(datetime.date(2024, 12, 3), None)
>>> policy.retention_ms("adverts"), policy.retention_ms("training_examples")
(15552000000, -1)
>>> parse_retention("categories: {referals: {days: 30, reason: typo}}", "r.yaml")
Traceback (most recent call last):
...
toex_stream.domain.retention.RetentionError: invalid retention r.yaml:
  r.yaml:1: categories.referals: unknown category 'referals'; the categories are referrals, adverts, ...
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

import yaml

from toex_stream.domain.errors import ToexError
from toex_stream.domain.yamlfile import line_of, read_mapping

__all__ = [
    "CATEGORIES", "KEPT_WHILE_MODEL_NEEDS", "DATABASE_CATEGORIES", "Period", "RetentionCategory", "RetentionError",
    "RetentionPolicy", "load_retention", "parse_retention",
]

RetentionCategory = Literal[
    "referrals", "adverts", "intelligence", "provisional_nominals", "match_decisions", "alerts", "outbox_payloads",
    "receipts", "derived_events", "dead_letters", "training_examples",
]
CATEGORIES: tuple[RetentionCategory, ...] = get_args(RetentionCategory)

# What the retention run deletes from the database, in this order (alerts before their messages' payloads).
DATABASE_CATEGORIES: tuple[RetentionCategory, ...] = (
    "provisional_nominals", "match_decisions", "alerts", "outbox_payloads", "receipts",
)

# ``days: model``: kept as long as the model needs them. Only training examples may say it.
KEPT_WHILE_MODEL_NEEDS = "model"
_MAY_BE_KEPT_WHILE_MODEL_NEEDS: frozenset[RetentionCategory] = frozenset({"training_examples"})

_DAY_MS = 24 * 60 * 60 * 1000
_BUNDLED = ("data", "retention.yaml")


class RetentionError(ToexError):
    """A retention file that does not say, for every category, a valid period and a reason."""


@dataclass(frozen=True)
class Period:
    """How long one category is kept (``days``; None: as long as the model needs it) and why."""

    days: int | None
    reason: str

    def describe(self) -> str:
        """The period in words, for the policy table.

        >>> Period(365, "x").describe(), Period(None, "x").describe()
        ('365 days', 'as long as the model needs them')
        """
        return "as long as the model needs them" if self.days is None else f"{self.days} days"


@dataclass(frozen=True)
class RetentionPolicy:
    """The period and reason of every category; build it with :func:`load_retention` or :func:`parse_retention`."""

    periods: dict[RetentionCategory, Period]
    source: str = "retention.yaml"

    def period(self, category: RetentionCategory) -> Period:
        return self.periods[category]

    def due_before(self, category: RetentionCategory, now: dt.datetime) -> dt.datetime | None:
        """What of ``category`` was last touched before this time is due for deletion; None: nothing ever is."""
        days = self.periods[category].days
        return None if days is None else now - dt.timedelta(days=days)

    def retention_ms(self, category: RetentionCategory) -> int:
        """The topic setting ``retention.ms`` for ``category``: -1 (for ever) when kept as long as the model needs."""
        days = self.periods[category].days
        return -1 if days is None else days * _DAY_MS

    def why(self, category: RetentionCategory) -> str:
        """The reason an erasure of ``category`` gives in the s.62 log: ``retention: alerts older than 730 days``."""
        return f"retention: {category} older than {self.periods[category].describe()}"


def _problem(name: str, root: yaml.Node | None, loc: tuple[int | str, ...], message: str) -> str:
    line = line_of(root, loc)
    where = f"{name}:{line}" if line else name
    return f"{where}: {'.'.join(str(part) for part in loc)}: {message}"


def parse_retention(text: str, name: str) -> RetentionPolicy:
    """Read and validate a retention file's text; :class:`RetentionError` names each problem, its line and fix.

    >>> parse_retention("categories: {}", "r.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toex_stream.domain.retention.RetentionError: invalid retention r.yaml:
      r.yaml:1: categories: missing category 'referrals': every category needs days and a reason
      ...
    """
    document, root = read_mapping(text, name, RetentionError, "a retention file is a YAML mapping with 'categories'")
    problems: list[str] = []
    unknown_keys = sorted(set(document) - {"categories"})
    for key in unknown_keys:
        problems.append(_problem(name, root, (key,), f"unknown key '{key}' (a typo?); the file holds 'categories'"))
    categories = document.get("categories")
    if not isinstance(categories, dict):
        problems.append(_problem(name, root, ("categories",),
                                 "'categories' must be a mapping of category to its days and reason"))
        raise RetentionError(f"invalid retention {name}:\n  " + "\n  ".join(problems))
    periods: dict[RetentionCategory, Period] = {}
    for key, entry in categories.items():
        loc: tuple[int | str, ...] = ("categories", str(key))
        if key not in CATEGORIES:
            problems.append(_problem(name, root, loc, f"unknown category '{key}'; the categories are "
                                     + ", ".join(CATEGORIES)))
            continue
        category: RetentionCategory = key
        period = _period(name, root, loc, category, entry, problems)
        if period is not None:
            periods[category] = period
    for category in CATEGORIES:
        if category not in categories:
            problems.append(_problem(name, root, ("categories",),
                                     f"missing category '{category}': every category needs days and a reason"))
    problems += _consistency(name, root, periods)
    if problems:
        raise RetentionError(f"invalid retention {name}:\n  " + "\n  ".join(problems))
    return RetentionPolicy(periods, source=name)


def _period(name: str, root: yaml.Node | None, loc: tuple[int | str, ...], category: RetentionCategory, entry: object,
            problems: list[str]) -> Period | None:
    if not isinstance(entry, dict):
        problems.append(_problem(name, root, loc, "must be a mapping with 'days' and 'reason'"))
        return None
    for extra in sorted(set(entry) - {"days", "reason"}):
        problems.append(_problem(name, root, (*loc, str(extra)), f"unknown key '{extra}' (a typo?)"))
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problems.append(_problem(name, root, loc, "missing 'reason': say why this period, in words"))
    if "days" not in entry or entry["days"] is None:
        problems.append(_problem(name, root, loc, "missing 'days': the whole number of days it is kept"))
        return None
    days = entry["days"]
    if days == KEPT_WHILE_MODEL_NEEDS and category in _MAY_BE_KEPT_WHILE_MODEL_NEEDS:
        days = None
    elif days == KEPT_WHILE_MODEL_NEEDS:
        problems.append(_problem(name, root, (*loc, "days"), f"'{KEPT_WHILE_MODEL_NEEDS}' (as long as the model "
                                 "needs them) is for training_examples only; give a whole number of days"))
        return None
    elif isinstance(days, bool) or not isinstance(days, int):
        problems.append(_problem(name, root, (*loc, "days"), f"days must be a whole number, not {days!r}"))
        return None
    elif days < 1:
        problems.append(_problem(name, root, (*loc, "days"), f"days must be at least 1, not {days}"))
        return None
    return Period(days, reason.strip()) if isinstance(reason, str) and reason.strip() else None


def _consistency(name: str, root: yaml.Node | None, periods: dict[RetentionCategory, Period]) -> list[str]:
    """Periods that would undo one another."""
    decisions, provisional = periods.get("match_decisions"), periods.get("provisional_nominals")
    if decisions and provisional and decisions.days is not None and provisional.days is not None \
            and decisions.days < provisional.days:
        # A provisional nominal's evidence is its match decisions: deleted first, it would look evidence-free.
        return [_problem(name, root, ("categories", "match_decisions", "days"),
                         f"match_decisions ({decisions.days} days) must be kept at least as long as "
                         f"provisional_nominals ({provisional.days} days): their decisions are their evidence")]
    return []


def load_retention(path: Path | None = None) -> RetentionPolicy:
    """Read and validate a retention file; by default the bundled ``data/retention.yaml``."""
    if path is None:
        return _bundled()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RetentionError(f"cannot read retention file {path}: {error.strerror or error}; "
                             "check TOEX_RETENTION_FILE") from None
    return parse_retention(text, str(path))


@functools.cache
def _bundled() -> RetentionPolicy:
    source = resources.files("toex_stream").joinpath(*_BUNDLED)
    return parse_retention(source.read_text(encoding="utf-8"), "retention.yaml")
