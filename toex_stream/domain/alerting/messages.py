"""Alert messages for the regional teams' channels: Slack Block Kit and a Teams Adaptive Card.

A message says what a team needs to decide whether to open the record, and no
more: band, threat, region, risk score, up to three reasons, how many events,
and the alert id as the reference to look it up. Names, dates of birth, phone
numbers and addresses stay in the record, out of chat; a receiver that is
allowed more (``include_personal_data=True``) gets the nominal ids as well.
Every message is marked OFFICIAL-SENSITIVE at its top and bottom.

Each rendered payload carries ``disclosure``: a short description of what it
discloses, for the audit log (never the data itself).

>>> import datetime as dt
>>> alert = Alert(schema_version=1, alert_id="A-1", created_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
...               region="ERSOU", threat="msht", band="high", risk_score=0.87, model_version="m1",
...               reasons=[Reason(feature="phones", contribution=0.4, text="phone seen in 4 towns")])
>>> card = slack_alert(alert)
>>> card["blocks"][0]["text"]["text"], card["disclosure"]
('*OFFICIAL-SENSITIVE*', 'alert card: band, region, threat, risk score, 1 reasons, 0 events')
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from toex_stream.domain.contract import Alert, Reason

MARKING = "OFFICIAL-SENSITIVE"
MAX_REASONS = 3
BAND_COLOUR = {"low": "Default", "medium": "Warning", "high": "Attention", "critical": "Attention"}

__all__ = ["MARKING", "describe", "headline", "log_line", "people", "render", "slack_alert", "slack_update",
           "teams_alert"]


def _top_reasons(alert: Alert) -> list[Reason]:
    return sorted(alert.reasons, key=lambda reason: -abs(reason.contribution))[:MAX_REASONS]


def headline(alert: Alert) -> str:
    """One line without personal data, e.g. for notifications and logs.

    >>> import datetime as dt
    >>> headline(Alert(schema_version=1, alert_id="A-1", region="ERSOU", threat="msht", band="high",
    ...     risk_score=0.5, model_version="m", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))
    'HIGH msht alert, ERSOU (ref A-1)'
    """
    return f"{alert.band.upper()} {alert.threat} alert, {alert.region} (ref {alert.alert_id})"


def describe(alert: Alert, *, include_personal_data: bool = False, what: str = "alert card") -> str:
    """What a message about ``alert`` discloses, for the audit log: kinds and counts, never values."""
    parts = ["band", "region", "threat", "risk score",
             f"{len(_top_reasons(alert))} reasons", f"{len(alert.event_refs)} events"]
    if alert.members:
        parts.append("people by role (counts)")
    if include_personal_data:
        parts.append(f"{len(alert.nominal_ids)} nominal ids")
    return f"{what}: " + ", ".join(parts)


_ROLE_NAMES = {"suspected_controller": "suspected controllers", "possible_victim": "possible victims",
               "unknown": "role unknown"}


def people(alert: Alert) -> str:
    """How many people the alert's situation holds, by role (counts only).

    >>> import datetime as dt
    >>> from toex_stream.domain.contract import AlertMember
    >>> people(Alert(schema_version=1, alert_id="A-1", region="ERSOU", threat="msht", band="high", risk_score=0.5,
    ...     model_version="m", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    ...     members=[AlertMember(nominal_id="N-1", role="suspected_controller"),
    ...              AlertMember(nominal_id="N-2", role="possible_victim"),
    ...              AlertMember(nominal_id="N-3", role="possible_victim")]))
    '3: 2 possible victims, 1 suspected controllers'
    """
    counts: dict[str, int] = {}
    for member in alert.members:
        counts[member.role] = counts.get(member.role, 0) + 1
    parts = [f"{n} {_ROLE_NAMES[role]}" for role, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return f"{len(alert.members)}: " + ", ".join(parts)


def _facts(alert: Alert, include_personal_data: bool) -> list[tuple[str, str]]:
    facts = [
        ("Region", alert.region),
        ("Threat", alert.threat),
        ("Band", alert.band),
        ("Risk score", f"{alert.risk_score:.2f}"),
        ("Events", str(len(alert.event_refs))),
        ("Status", alert.status),
        ("Reference", alert.alert_id),
    ]
    if len(alert.bands) > 1:
        facts.insert(2, ("Threats", ", ".join(f"{t} {b}" for t, b in sorted(alert.bands.items()))))
    if alert.members:
        facts.insert(-2, ("People", people(alert)))
    if alert.merged_into:
        facts.append(("Merged into", alert.merged_into))
    if alert.url:
        facts.append(("Open", alert.url))
    if include_personal_data and alert.nominal_ids:
        roles = {m.nominal_id: m.role.replace("_", " ") for m in alert.members}
        facts.append(("Nominals", ", ".join(f"{n} ({roles[n]})" if n in roles else n for n in alert.nominal_ids)))
    return facts


def _marking_block() -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{MARKING}*"}]}


def _slack_blocks(alert: Alert, include_personal_data: bool) -> list[dict[str, Any]]:
    reasons = _top_reasons(alert)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{MARKING}*"}},
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{alert.band.upper()} · {alert.threat} alert", "emoji": True},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in _facts(alert, include_personal_data)
            ],
        },
    ]
    if reasons:
        lines = "\n".join(f"• {reason.text or reason.feature}" for reason in reasons)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Why*\n{lines}"}})
    blocks.append({"type": "divider"})
    blocks.append(_marking_block())
    return blocks


def slack_alert(alert: Alert, *, include_personal_data: bool = False) -> dict[str, Any]:
    """The first post of an alert: ``{"text", "blocks", "disclosure"}`` (the channel is the receiver's)."""
    return {
        "text": f"[{MARKING}] {headline(alert)}",
        "blocks": _slack_blocks(alert, include_personal_data),
        "disclosure": describe(alert, include_personal_data=include_personal_data),
    }


def slack_update(alert: Alert, change: str, *, include_personal_data: bool = False) -> dict[str, Any]:
    """An update: the alert card as it now is (for ``chat.update``) and a thread reply saying what changed.

    ``change`` is written by toex-stream ("acknowledged by analyst-7", "update: band critical"):
    it must hold no personal data.
    """
    card = slack_alert(alert, include_personal_data=include_personal_data)
    reply_text = f"[{MARKING}] Update on {alert.alert_id}: {change}"
    return {
        "text": card["text"],
        "blocks": card["blocks"],
        "reply": {
            "text": reply_text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{MARKING}*\n{change}"}},
                _marking_block(),
            ],
        },
        "disclosure": describe(alert, include_personal_data=include_personal_data, what="alert update"),
    }


def teams_alert(alert: Alert, *, include_personal_data: bool = False) -> dict[str, Any]:
    """The alert as a Teams workflow-webhook message holding one Adaptive Card (schema 1.4)."""
    marking = {"type": "TextBlock", "text": MARKING, "weight": "Bolder", "color": "Attention", "wrap": True}
    body: list[dict[str, Any]] = [
        marking,
        {
            "type": "TextBlock",
            "text": f"{alert.band.upper()} · {alert.threat} alert",
            "size": "Large",
            "weight": "Bolder",
            "color": BAND_COLOUR[alert.band],
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [{"title": name, "value": value} for name, value in _facts(alert, include_personal_data)],
        },
    ]
    reasons = _top_reasons(alert)
    if reasons:
        body.append({"type": "TextBlock", "text": "Why", "weight": "Bolder"})
        body.extend(
            {"type": "TextBlock", "text": f"- {reason.text or reason.feature}", "wrap": True} for reason in reasons
        )
    body.append(marking)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
        "disclosure": describe(alert, include_personal_data=include_personal_data, what="adaptive card"),
    }


def log_line(alert: Alert) -> dict[str, Any]:
    """What the log receiver writes: ids and labels only, for development.

    >>> import datetime as dt
    >>> log_line(Alert(schema_version=1, alert_id="A-1", region="ERSOU", threat="msht", band="high",
    ...     risk_score=0.5, model_version="m", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))["text"]
    'alert A-1 band=high region=ERSOU threat=msht score=0.50'
    """
    return {
        "text": (
            f"alert {alert.alert_id} band={alert.band} region={alert.region} threat={alert.threat} "
            f"score={alert.risk_score:.2f}"
        ),
        "disclosure": "log line: band, region, threat, risk score",
    }


def alert_link(public_url: str, alert_id: str) -> str:
    """The address of an alert's page on the dashboard (the id is a reference: no personal data).

    >>> alert_link("https://toex.example/", "alert-1a")
    'https://toex.example/alerts/alert-1a'
    """
    return f"{public_url.rstrip('/')}/alerts/{quote(alert_id, safe='')}"


def render(
    receiver_kind: str, alert: Alert, *, change: str | None = None, include_personal_data: bool = False
) -> dict[str, Any]:
    """The outbox payload of an alert for a receiver of ``receiver_kind`` (``slack``, ``teams``, ``log``).

    ``change`` makes it an update (Slack: the edited card and a thread reply);
    Teams and the log have no threads, so an update is a new card or line.

    >>> import datetime as dt
    >>> a = Alert(schema_version=1, alert_id="A-1", region="ERSOU", threat="msht", band="high",
    ...     risk_score=0.5, model_version="m", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    >>> render("log", a, change="closed")["text"]
    'alert A-1 band=high region=ERSOU threat=msht score=0.50 (closed)'
    """
    if receiver_kind == "slack":
        if change is None:
            return slack_alert(alert, include_personal_data=include_personal_data)
        return slack_update(alert, change, include_personal_data=include_personal_data)
    if receiver_kind == "teams":
        card = teams_alert(alert, include_personal_data=include_personal_data)
        if change is not None:
            body = card["attachments"][0]["content"]["body"]
            body.insert(1, {"type": "TextBlock", "text": f"Update: {change}", "weight": "Bolder", "wrap": True})
        return card
    if receiver_kind == "log":
        line = log_line(alert)
        if change is not None:
            line["text"] += f" ({change})"
        return line
    raise ValueError(f"receiver kind {receiver_kind!r} must be 'slack', 'teams' or 'log'")
