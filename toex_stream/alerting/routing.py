"""Which channel an alert goes to, when, and whether at all: routes, grouping, silences and inhibition.

Routing follows Prometheus Alertmanager, whose semantics on-call teams already
know. A tree of routes, read from YAML (``data/routes.yaml`` by default),
matches an alert's labels (``region``, ``force_code``, ``threat``, ``band``)
and names a receiver (a Slack channel, a Teams workflow webhook, or the log).
Children inherit what they do not set; the first matching child wins unless it
says ``continue: true``; when no child matches, the parent itself does.

>>> routes = load_routes()
>>> labels = {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": "N-1"}
>>> [(m.route_path, m.receiver.channel, m.group_wait_s) for m in routes.match(labels)]
[('root/ERSOU', '#toex-ersou', 30.0)]

Everything here is pure but :func:`load_routes` and :class:`RoutesFile` (which
read the file): the alert agent keeps the :class:`GroupState` in a table and
the clock outside, and :func:`decide` says what to send and when.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from toex_stream.contract import Band, Region, Score
from toex_stream.errors import ToexError
from toex_stream.yamlfile import line_of, read_mapping, yaml_message, yaml_path

__all__ = [
    "Action",
    "GroupState",
    "InhibitRule",
    "Receiver",
    "Route",
    "RouteMatch",
    "RoutesFile",
    "RoutingConfig",
    "RoutingError",
    "Silence",
    "alert_id_for",
    "decide",
    "group_key",
    "inhibited",
    "labels_of",
    "load_routes",
    "parse_duration",
    "silenced",
]

log = logging.getLogger(__name__)

#: The labels a route can match on.
RouteLabel = Literal["region", "force_code", "threat", "band"]
#: Every label an alert carries: the route labels and the nominal (for grouping, inhibition and silences).
AlertLabel = Literal["region", "force_code", "threat", "band", "nominal_id"]
#: The labels a silence can match on.
SilenceLabel = Literal["nominal_id", "region", "threat"]
ReceiverKind = Literal["slack", "teams", "log"]
Action = Literal["open", "update", "repeat", "none"]

_BUNDLED = ("data", "routes.yaml")
_ROOT = "root"
_DURATION_RE = re.compile(r"(?:[0-9]+[dhms])+")
_DURATION_PART_RE = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_KNOWN_VALUES: dict[str, tuple[str, ...]] = {"region": get_args(Region), "band": get_args(Band)}


class RoutingError(ToexError):
    """The routes are invalid or cannot be read; the message names the file, the line and the YAML path."""

    def __init__(self, message: str, problems: Sequence[tuple[tuple[int | str, ...], str]] = ()) -> None:
        super().__init__(message)
        #: (YAML location, message) of each problem found after the shape was validated.
        self.problems = tuple(problems)


# -- values --------------------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in an Alertmanager-style duration: a number and a unit (``d``, ``h``, ``m``, ``s``), repeatable.

    >>> parse_duration("30s"), parse_duration("5m"), parse_duration("4h"), parse_duration("1d"), parse_duration("1h30m")
    (30.0, 300.0, 14400.0, 86400.0, 5400.0)
    """
    if not isinstance(text, str) or not _DURATION_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit d, h, m or s, e.g. '30s', '5m', '4h'")
    return float(sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART_RE.findall(text)))


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"regular expression {pattern!r} does not compile: {error}") from None
    return pattern


Duration = Annotated[str, AfterValidator(_duration)]
Pattern = Annotated[str, AfterValidator(_regex)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


def _check_values(matchers: dict[str, str]) -> dict[str, str]:
    # A region or band misspelt in an exact matcher would silently never match: catch it.
    for label, value in matchers.items():
        known = _KNOWN_VALUES.get(label)
        if known is not None and value not in known:
            raise ValueError(f"{label} '{value}' is not one of {', '.join(known)}")
    return matchers


class _Config(BaseModel):
    # strict: 30 is not a duration; forbid: a misspelt key is an error, not a silently unused setting.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class Receiver(_Config):
    """Where notifications go: a Slack channel, a Teams workflow webhook, or the log (development)."""

    name: Name
    kind: ReceiverKind
    channel: str | None = Field(default=None, description="Slack only: '#channel-name' or a channel id.")
    webhook_setting: str | None = Field(
        default=None, description="Teams only: the NAME of the setting (environment variable) holding the URL."
    )
    include_personal_data: bool = Field(
        default=False, description="Show names, dates of birth and phones in the channel; off unless cleared."
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> Receiver:
        if self.kind == "slack":
            if self.channel is None or not re.fullmatch(r"#[a-z0-9][a-z0-9_\-]{0,79}|[CG][A-Z0-9]{8,}", self.channel):
                raise ValueError(
                    f"slack receiver '{self.name}' needs channel: '#name' (lower case) or a channel id like 'C0123ABCD'"
                )
        elif self.channel is not None:
            raise ValueError(f"channel is for slack receivers only; '{self.name}' is {self.kind}")
        if self.kind == "teams":
            if self.webhook_setting is None:
                raise ValueError(
                    f"teams receiver '{self.name}' needs webhook_setting: the name of the setting holding the URL"
                )
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", self.webhook_setting):
                # A URL here would put a secret in a file that is committed and shown in logs.
                raise ValueError(
                    f"webhook_setting of '{self.name}' must be the NAME of a setting such as "
                    "TOEX_TEAMS_WEBHOOK_ERSOU, never the URL itself"
                )
        elif self.webhook_setting is not None:
            raise ValueError(f"webhook_setting is for teams receivers only; '{self.name}' is {self.kind}")
        return self


class Route(_Config):
    """One node of the routing tree, as written; unset settings are inherited from the parent."""

    name: Name | None = Field(
        default=None, description="The node's name in route paths; by default its exact matcher values."
    )
    match: Annotated[dict[RouteLabel, str], AfterValidator(_check_values)] = {}
    match_re: dict[RouteLabel, Pattern] = Field(default={}, description="Anchored: the whole value must match.")
    receiver: Name | None = None
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[AlertLabel] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    routes: list[Route] = []


class InhibitRule(_Config):
    """An alert matching ``source_*`` suppresses alerts matching ``target_*`` that agree on ``equal``."""

    source_match: Annotated[dict[AlertLabel, str], AfterValidator(_check_values)] = {}
    source_match_re: dict[AlertLabel, Pattern] = {}
    target_match: Annotated[dict[AlertLabel, str], AfterValidator(_check_values)] = {}
    target_match_re: dict[AlertLabel, Pattern] = {}
    equal: list[AlertLabel] = []

    @model_validator(mode="after")
    def _has_both_sides(self) -> InhibitRule:
        if not (self.source_match or self.source_match_re) or not (self.target_match or self.target_match_re):
            raise ValueError("an inhibit rule needs a source matcher and a target matcher, or it inhibits everything")
        return self

    def _source(self, labels: Mapping[str, str]) -> bool:
        return _matches(self.source_match, self.source_match_re, labels)

    def _target(self, labels: Mapping[str, str]) -> bool:
        return _matches(self.target_match, self.target_match_re, labels)


_Label = TypeVar("_Label", bound=str)


def _matches(exact: Mapping[_Label, str], regex: Mapping[_Label, str], labels: Mapping[str, str]) -> bool:
    # Patterns are anchored, as in Alertmanager: 'high' does not match 'highest'. re caches compiled patterns.
    return all(labels.get(label, "") == value for label, value in exact.items()) and all(
        re.fullmatch(pattern, labels.get(label, "")) is not None for label, pattern in regex.items()
    )


@dataclass(frozen=True)
class RouteMatch:
    """A route an alert matched, with its settings resolved (inherited) and durations in seconds."""

    route_path: str
    receiver: Receiver
    group_by: tuple[str, ...]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


@dataclass(frozen=True)
class _Node:
    match: Mapping[RouteLabel, str]
    match_re: Mapping[RouteLabel, str]
    continue_: bool
    resolved: RouteMatch
    children: tuple[_Node, ...]

    def find(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        if not _matches(self.match, self.match_re, labels):
            return []
        found: list[RouteMatch] = []
        for child in self.children:
            matched = child.find(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self.resolved]


class RoutingConfig(_Config):
    """The receivers, the routing tree and the inhibit rules, checked as a whole.

    The root route matches every alert and must set a receiver; it may leave
    ``group_by`` (default ``[nominal_id]``), ``group_wait`` (30s),
    ``group_interval`` (5m) and ``repeat_interval`` (4h) to their defaults.
    """

    receivers: list[Receiver] = Field(min_length=1)
    route: Route
    inhibit_rules: list[InhibitRule] = []

    # Compiled once when loaded: matching runs for every score.
    _tree: _Node | None = None
    _receivers: dict[str, Receiver] = {}

    def model_post_init(self, context: Any, /) -> None:
        problems: list[tuple[tuple[int | str, ...], str]] = []
        receivers: dict[str, Receiver] = {}
        for index, receiver in enumerate(self.receivers):
            if receiver.name in receivers:
                problems.append((("receivers", index, "name"), f"receiver '{receiver.name}' is defined twice"))
            receivers.setdefault(receiver.name, receiver)
        root = self.route
        if root.match or root.match_re or root.continue_:
            problems.append((("route",), "the root route matches every alert: remove match, match_re and continue"))
        if root.receiver is None:
            problems.append((("route", "receiver"), "the root route needs a receiver (children inherit it)"))
        defaults = RouteMatch(_ROOT, _UNSET_RECEIVER, ("nominal_id",), 30.0, 300.0, 14_400.0)
        tree = _compile(root, ("route",), _ROOT, defaults, receivers, problems)
        if problems:
            lines = "\n  ".join(f"{yaml_path(loc)}: {message}" for loc, message in problems)
            raise RoutingError(f"invalid routes:\n  {lines}", problems)
        self._tree = tree
        self._receivers = receivers

    def receiver(self, name: str) -> Receiver:
        """The receiver called ``name``."""
        try:
            return self._receivers[name]
        except KeyError:
            raise RoutingError(f"no receiver '{name}'; receivers are {', '.join(self._receivers)}") from None

    def match(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        """Every route an alert with these labels goes to, depth first, in file order (never empty)."""
        assert self._tree is not None  # set by model_post_init, which raises otherwise
        return self._tree.find(labels)


_UNSET_RECEIVER = Receiver(name="unset", kind="log")


def _node_name(route: Route, index: int) -> str:
    if route.name is not None:
        return route.name
    if route.match:
        return "|".join(route.match[label] for label in sorted(route.match))
    return f"route{index}"


def _compile(
    route: Route,
    loc: tuple[int | str, ...],
    path: str,
    parent: RouteMatch,
    receivers: Mapping[str, Receiver],
    problems: list[tuple[tuple[int | str, ...], str]],
) -> _Node:
    receiver = parent.receiver
    if route.receiver is not None:
        if route.receiver in receivers:
            receiver = receivers[route.receiver]
        else:
            problems.append(
                (loc + ("receiver",), f"no receiver '{route.receiver}'; define it under receivers or use one of "
                 f"{', '.join(receivers)}")
            )
    resolved = RouteMatch(
        route_path=path,
        receiver=receiver,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        group_wait_s=parse_duration(route.group_wait) if route.group_wait else parent.group_wait_s,
        group_interval_s=parse_duration(route.group_interval) if route.group_interval else parent.group_interval_s,
        repeat_interval_s=parse_duration(route.repeat_interval) if route.repeat_interval else parent.repeat_interval_s,
    )
    for setting in ("group_interval_s", "repeat_interval_s"):
        if getattr(resolved, setting) <= 0 and getattr(route, setting[:-2]) is not None:
            problems.append((loc + (setting[:-2],), f"{setting[:-2]} must be longer than 0s"))
    children: list[_Node] = []
    seen: dict[str, int] = {}
    for index, child in enumerate(route.routes):
        name = _node_name(child, index)
        child_loc = loc + ("routes", index)
        if name in seen:
            # The path is part of every alert id: two siblings must not share one.
            problems.append(
                (child_loc, f"two routes here are both called '{name}' (routes[{seen[name]}] and routes[{index}]); "
                 "give one a distinct name")
            )
        seen.setdefault(name, index)
        children.append(_compile(child, child_loc, f"{path}/{name}", resolved, receivers, problems))
    return _Node(dict(route.match), dict(route.match_re), route.continue_, resolved, tuple(children))


# -- loading -------------------------------------------------------------------------------------


def _parse(text: str, name: str) -> RoutingConfig:
    document, root = read_mapping(
        text, name, RoutingError, "routes are a YAML mapping of receivers, route and inhibit_rules"
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

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp = self._stat()
        self._config = load_routes(self.path)

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
        return self._config


# -- labels, silences, inhibition ----------------------------------------------------------------


def labels_of(score: Score) -> dict[str, str]:
    """The labels a score is routed, grouped, silenced and inhibited by (no personal data)."""
    return {
        "region": score.region,
        "force_code": score.force_code or "",
        "threat": score.threat,
        "band": score.band,
        "nominal_id": score.nominal_id,
    }


@dataclass(frozen=True)
class Silence:
    """Mutes matching alerts from ``starts_at`` until ``ends_at``; says who set it and why.

    ``matchers`` are exact values of ``nominal_id``, ``region`` or ``threat``; all must agree.
    """

    silence_id: str
    matchers: dict[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str
    comment: str = ""

    def __post_init__(self) -> None:
        allowed = get_args(SilenceLabel)
        if not self.matchers:
            raise RoutingError(f"silence {self.silence_id} has no matchers: it would mute every alert")
        unknown = sorted(set(self.matchers) - set(allowed))
        if unknown:
            raise RoutingError(f"silence {self.silence_id} matches on {unknown}; a silence matches on {allowed}")
        if any(not value for value in self.matchers.values()):
            raise RoutingError(f"silence {self.silence_id} has an empty matcher value")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise RoutingError(f"silence {self.silence_id}: starts_at and ends_at need a time zone (UTC)")
        if self.ends_at <= self.starts_at:
            raise RoutingError(f"silence {self.silence_id} ends ({self.ends_at}) before it starts ({self.starts_at})")
        if not self.created_by:
            raise RoutingError(f"silence {self.silence_id} needs created_by: who set it")

    def active(self, now: dt.datetime) -> bool:
        """Whether the silence is in force at ``now`` (from ``starts_at``, until but not at ``ends_at``)."""
        return self.starts_at <= now < self.ends_at


def silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: dt.datetime | float) -> Silence | None:
    """The first silence in force at ``now`` whose matchers all agree with ``labels``; None if none does.

    ``now`` is an aware datetime or epoch seconds.
    """
    at = dt.datetime.fromtimestamp(now, dt.timezone.utc) if isinstance(now, (int, float)) else now
    for silence in silences:
        if silence.active(at) and all(labels.get(label) == value for label, value in silence.matchers.items()):
            return silence
    return None


def inhibited(labels: Mapping[str, str], active: Iterable[Mapping[str, str]], rules: Iterable[InhibitRule]) -> bool:
    """Whether an active alert suppresses this one under a rule (e.g. a critical suppresses the nominal's high).

    An alert never inhibits itself, as in Alertmanager.

    >>> rule = InhibitRule(source_match={"band": "critical"}, target_match_re={"band": "low|medium|high"},
    ...                    equal=["nominal_id", "threat"])
    >>> critical = {"nominal_id": "N-1", "threat": "msht", "band": "critical"}
    >>> inhibited({"nominal_id": "N-1", "threat": "msht", "band": "high"}, [critical], [rule])
    True
    >>> inhibited({"nominal_id": "N-2", "threat": "msht", "band": "high"}, [critical], [rule])
    False
    """
    active = list(active)
    for rule in rules:
        if not rule._target(labels):
            continue
        for source in active:
            if source == labels or not rule._source(source):
                continue
            if all(source.get(label, "") == labels.get(label, "") for label in rule.equal):
                return True
    return False


# -- grouping and the notification decision -------------------------------------------------------


@dataclass
class GroupState:
    """What has been decided for one group (one route and group key); JSON-able through ``dataclasses.asdict``.

    ``last_notified_at`` is when the last notification was scheduled to go
    (``notify_at``): the outbox delivers it then or later, never not at all.
    ``closed`` is set by the lifecycle (an analyst closes the alert).
    """

    alert_id: str
    episode: int
    band: str
    first_at: float
    last_notified_at: float | None
    last_changed_at: float
    event_count: int
    closed: bool = False


def group_key(match: RouteMatch, labels: Mapping[str, str]) -> str:
    """The route path and the values of its ``group_by`` labels, in label order: one key per group.

    >>> route = RouteMatch("root/ERSOU", Receiver(name="log", kind="log"), ("nominal_id",), 30, 300, 14400)
    >>> group_key(route, {"nominal_id": "N-1", "band": "high"})
    'root/ERSOU{nominal_id=N-1}'
    """
    values = ",".join(f"{label}={labels.get(label, '')}" for label in sorted(match.group_by))
    return f"{match.route_path}{{{values}}}"


def alert_id_for(group_key: str, threat: str, episode: int) -> str:
    """A stable alert id: the same group, threat and episode give the same id, after a restart too.

    >>> alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1) == alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1)
    True
    >>> len(alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1))
    26
    """
    digest = hashlib.sha256(f"{group_key}\x1f{threat}\x1f{episode}".encode()).hexdigest()
    return "alert-" + digest[:20]


def decide(
    state: GroupState | None,
    match: RouteMatch,
    labels: Mapping[str, str],
    band: str,
    event_count: int,
    now: float,
    alerting_bands: Collection[str],
) -> tuple[Action, GroupState | None, float]:
    """What to send for one group after a score, the group's new state, and when the notification may go.

    - no group, or a closed one: a band in ``alerting_bands`` opens the group (a
      closed one as a new episode, with a new alert id), to be sent after
      ``group_wait``; any other band gives ``"none"`` and the state unchanged
      (None when there was no group).
    - an open group whose band changed or whose event count grew: ``"open"``
      again while its first notification is still waiting (the pending one is
      replaced, same alert id, same time); otherwise ``"update"``, held to
      ``group_interval`` after the last notification (a still-pending update
      keeps its time: the two are one notification).
    - an open group with nothing new: ``"repeat"`` once ``repeat_interval`` has
      passed since the last notification, else ``"none"``.

    ``now`` and the returned time are epoch seconds. The decision depends on
    its arguments only: the caller stores the state and acts on the action.
    """
    threat = labels.get("threat", "")
    if state is None or state.closed:
        if band not in alerting_bands:
            return "none", state, now
        episode = 1 if state is None else state.episode + 1
        notify_at = now + match.group_wait_s
        opened = GroupState(
            alert_id=alert_id_for(group_key(match, labels), threat, episode),
            episode=episode,
            band=band,
            first_at=now,
            last_notified_at=notify_at,
            last_changed_at=now,
            event_count=event_count,
            closed=False,
        )
        return "open", opened, notify_at

    changed = band != state.band or event_count > state.event_count
    last = state.last_notified_at if state.last_notified_at is not None else state.first_at + match.group_wait_s
    if changed:
        if now < state.first_at + match.group_wait_s:
            action: Action = "open"
            notify_at = state.first_at + match.group_wait_s
        else:
            action = "update"
            notify_at = last if now < last else max(now, last + match.group_interval_s)
        new = dataclasses.replace(
            state, band=band, event_count=event_count, last_changed_at=now, last_notified_at=notify_at
        )
        return action, new, notify_at
    # A lower count (old events leaving the 30-day window) is kept so that a later rise is measured from it.
    kept = dataclasses.replace(state, event_count=event_count) if event_count != state.event_count else state
    if now >= last + match.repeat_interval_s:
        return "repeat", dataclasses.replace(kept, last_notified_at=now), now
    return "none", kept, now
