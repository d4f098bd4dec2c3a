"""Which channel an alert goes to: the routes, their receivers, and how labels match them.

Routing follows Prometheus Alertmanager, whose semantics on-call teams already
know. A tree of routes, read from YAML (``data/routes.yaml`` by default, by
:mod:`toex_stream.domain.alerting.routes_file`), matches an alert's labels
(``region``, ``force_code``, ``threat``, ``band``) and names a receiver (a
Slack channel, a Teams workflow webhook, or the log). Children inherit what
they do not set; the first matching child wins unless it says ``continue:
true``; when no child matches, the parent itself does.

>>> from toex_stream.domain.alerting.routes_file import load_routes
>>> routes = load_routes()
>>> labels = {"region": "ERSOU", "force_code": "kent", "threat": "msht", "band": "high", "nominal_id": "N-1"}
>>> [(m.route_path, m.receiver.channel, m.group_wait_s) for m in routes.match(labels)]
[('root/ERSOU', '#toex-ersou', 30.0)]

Everything here is pure. Silences are in
:mod:`toex_stream.domain.alerting.suppression`; grouping and what to send when, in
:mod:`toex_stream.domain.alerting.grouping`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from toex_stream.domain.contract import Band, Region, Score
from toex_stream.domain.errors import ToexError
from toex_stream.domain.yamlfile import yaml_path

__all__ = [
    "Receiver",
    "Route",
    "RouteMatch",
    "RoutingConfig",
    "RoutingError",
    "labels_of",
    "parse_duration",
]

#: The labels a route can match on.
RouteLabel = Literal["region", "force_code", "threat", "band"]
#: Every label an alert carries: the route labels, its situation (for grouping) and its leading nominal (silences).
AlertLabel = Literal["region", "force_code", "threat", "band", "nominal_id", "situation_id"]
ReceiverKind = Literal["slack", "teams", "log"]

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


def _no_inhibit_rules(rules: list[Any]) -> list[Any]:
    if rules:
        raise ValueError("inhibit rules no longer apply: an alert is about a situation and carries all its threats "
                         "and bands; remove inhibit_rules (or leave it empty)")
    return rules


class RoutingConfig(_Config):
    """The receivers and the routing tree, checked as a whole.

    The root route matches every alert and must set a receiver; it may leave
    ``group_by`` (default ``[situation_id]``), ``group_wait`` (30s),
    ``group_interval`` (5m) and ``repeat_interval`` (4h) to their defaults.
    """

    receivers: list[Receiver] = Field(min_length=1)
    route: Route
    # Inhibition belonged to per-nominal alerts; an alert about a situation carries every threat and band of
    # it, so no lower alert of the same people is left to hold back. A file that still sets rules is refused.
    inhibit_rules: Annotated[list[Any], AfterValidator(_no_inhibit_rules)] = []

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
        defaults = RouteMatch(_ROOT, _UNSET_RECEIVER, ("situation_id",), 30.0, 300.0, 14_400.0)
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


# -- an alert's labels ---------------------------------------------------------------------------


def labels_of(score: Score) -> dict[str, str]:
    """The labels a score is routed, grouped and silenced by (no personal data)."""
    return {
        "region": score.region,
        "force_code": score.force_code or "",
        "threat": score.threat,
        "band": score.band,
        "nominal_id": score.nominal_id,
    }
