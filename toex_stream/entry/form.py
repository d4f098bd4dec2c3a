"""The referral form for partners without an integration: server-rendered HTML, no JavaScript.

Each input is named by the field path the validation reports
(``subjects.0.date_of_birth``), so that a refusal lands beside its field with
no mapping table to keep in step. Every input has a label; an error summary
at the top links to each field; each field's error is tied to it with
``aria-describedby`` and ``aria-invalid``.

Authentication: the partner's API token is a (password) field of the form,
sent with each submission and never written back into a page. No cookie or
session is set, so the browser holds no ambient credential that another site
could ride on: a cross-site request forgery has no token to send, which is why
the form carries no separate CSRF token. (A login with a session cookie would
need one, plus the cookie's HttpOnly, Secure and SameSite flags.)

>>> body = referral_body({"referral_id": ["R-1"], "exploitation_types": ["labour", "sexual"],
...                       "urgency": ["standard"], "subjects.0.role": ["potential_victim"],
...                       "subjects.0.phones": ["07700 900123\\n07700 900124"], "subjects.0.age": ["17"]})
>>> body["exploitation_types"], body["subjects"][0]["phones"], body["subjects"][0]["age"], body["consent_to_share"]
(['labour', 'sexual'], ['07700 900123', '07700 900124'], 17, False)
>>> field_for("subjects.0.phones.1"), field_for("subjects.0"), field_for("")
('subjects.0.phones', None, None)
"""

from __future__ import annotations

import re
from html import escape
from typing import Any, get_args
from urllib.parse import parse_qs

from aiohttp import web

from toex_stream.adapters.sql.intake_store import Receipt
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import ExploitationType, Gender, Role, Urgency
from toex_stream.domain.intake.rules import Problem, Refused

TOKEN_FIELD = "api_token"
Values = dict[str, list[str]]

# (name, label, kind, hint); kind: text, textarea, date, number, lines, select:<choices>
_SUBJECT = "subjects.0."
_PERSON_FIELDS: list[tuple[str, str, str, str]] = [
    ("role", "Role", "select", ""),
    ("given_name", "Given name", "text", ""),
    ("family_name", "Family name", "text", ""),
    ("aliases", "Other names", "lines", "One per line."),
    ("date_of_birth", "Date of birth", "date", ""),
    ("age", "Age, if no date of birth is known", "number", ""),
    ("gender", "Gender", "select", ""),
    ("nationality", "Nationality", "text", "Two-letter country code, e.g. RO, HU, GB."),
    ("phones", "Phone numbers", "lines", "One per line."),
    ("emails", "Email addresses", "lines", "One per line."),
    ("addresses.0.text", "Address", "text", ""),
    ("addresses.0.postcode", "Address postcode", "text", ""),
    ("addresses.0.town", "Address town", "text", ""),
]
_CHOICES: dict[str, tuple[str, ...]] = {
    "subjects.0.role": ("unknown",) + tuple(r for r in get_args(Role) if r != "unknown"),
    "subjects.0.gender": ("",) + get_args(Gender),
}
FIELD_NAMES = (
    {"referral_id", "exploitation_types", "urgency", "consent_to_share", "subject_is_child", "narrative",
     "language", "locations.0.text", "locations.0.postcode", "locations.0.town"}
    | {f"{_SUBJECT}{name}" for name, *_ in _PERSON_FIELDS}
)


def parse_fields(raw: bytes) -> Values:
    """An url-encoded form body as lists of values per field (bad UTF-8 replaced, then refused by validation)."""
    try:
        return parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=200)
    except ValueError:  # over max_num_fields: no browser sends this form that many
        raise Refused([Problem("", "the form sent too many fields; use the form as it is served")]) from None


def _one(values: Values, name: str) -> str:
    return (values.get(name) or [""])[0].strip()


def _lines(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[\n;]", text) if part.strip()]


def _optional(values: Values, name: str) -> str | None:
    return _one(values, name) or None


def _address(values: Values, prefix: str) -> dict[str, str | None] | None:
    address = {part: _optional(values, f"{prefix}{part}") for part in ("text", "postcode", "town")}
    return address if any(address.values()) else None


def referral_body(values: Values) -> dict[str, Any]:
    """The JSON body the form's values stand for; validation then treats it exactly as an API body."""
    body: dict[str, Any] = {
        "schema_version": 1,
        "referral_id": _one(values, "referral_id"),
        "submitted_at": utc_now().isoformat(),
        "exploitation_types": [v for v in values.get("exploitation_types", []) if v],
        "urgency": _one(values, "urgency") or None,
        "consent_to_share": _one(values, "consent_to_share") == "yes",
        "subject_is_child": _one(values, "subject_is_child") == "yes",
        "narrative": _one(values, "narrative"),
        "language": _optional(values, "language"),
    }
    location = _address(values, "locations.0.")
    body["locations"] = [location] if location else []
    person: dict[str, Any] = {}
    for name, _label, kind, _hint in _PERSON_FIELDS:
        if name.startswith("addresses."):
            continue
        text = _one(values, f"{_SUBJECT}{name}")
        if kind == "lines":
            person[name] = _lines(text)
        elif kind == "number":
            person[name] = int(text) if text.isdigit() and len(text) < 4 else (text or None)
        elif name == "nationality":
            person[name] = text.upper() or None
        else:
            person[name] = text or None
    address = _address(values, f"{_SUBJECT}addresses.0.")
    person["addresses"] = [address] if address else []
    identifying = any(v for k, v in person.items() if k != "role")
    body["subjects"] = [person] if identifying or _one(values, f"{_SUBJECT}role") != "unknown" else []
    return body


LABELS = {f"{_SUBJECT}{name}": f"The person: {label[0].lower()}{label[1:]}" for name, label, *_ in _PERSON_FIELDS} | {
    TOKEN_FIELD: "API token", "referral_id": "Your reference", "exploitation_types": "Kinds of exploitation",
    "urgency": "Urgency", "consent_to_share": "Consent", "subject_is_child": "Child", "narrative": "Account",
    "language": "Language", "locations.0.text": "Place", "locations.0.postcode": "Postcode",
    "locations.0.town": "Town",
}


def field_for(loc: str) -> str | None:
    """The form field an error path belongs beside (a list item's error goes to its list's field)."""
    candidate = loc
    while candidate:
        if candidate in FIELD_NAMES:
            return candidate
        candidate = candidate.rpartition(".")[0]
    return None


def _id(name: str) -> str:
    return "f-" + name.replace(".", "-")


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#0b0c0c}
label,legend{display:block;font-weight:600;margin-top:1rem}
input[type=text],input[type=password],input[type=date],input[type=number],select,textarea{width:100%;
padding:.4rem;border:2px solid #0b0c0c;box-sizing:border-box;font:inherit}
fieldset{border:0;padding:0;margin:0} fieldset label{display:inline;font-weight:400;margin-right:1rem}
.hint{color:#505a5f;margin:0} .error{color:#d4351c;font-weight:600;margin:.2rem 0}
[aria-invalid=true]{border-color:#d4351c}
.summary{border:4px solid #d4351c;padding:1rem} .receipt{border:4px solid #00703c;padding:1rem}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;background:#00703c;color:#fff;border:0}
:focus{outline:3px solid #fd0;outline-offset:0} .visually-hidden{position:absolute;left:-9999px}
"""


def _shell(title: str, content: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} - toex-stream</title><style>{_STYLE}</style></head>"
            f"<body><main>{content}</main></body></html>")


class _Fields:
    """Renders inputs with their labels, hints, errors and previous values."""

    def __init__(self, values: Values, errors: dict[str, list[str]]) -> None:
        self.values = values
        self.errors = errors

    def _described(self, name: str, hint: str) -> tuple[str, str]:
        ident = _id(name)
        described, notes = [], ""
        if hint:
            described.append(f"{ident}-hint")
            notes += f'<p class="hint" id="{ident}-hint">{escape(hint)}</p>'
        if name in self.errors:
            described.append(f"{ident}-error")
            text = " ".join(escape(m) for m in self.errors[name])
            notes += f'<p class="error" id="{ident}-error"><span class="visually-hidden">Error:</span> {text}</p>'
        attrs = f' aria-describedby="{" ".join(described)}"' if described else ""
        if name in self.errors:
            attrs += ' aria-invalid="true"'
        return attrs, notes

    def input(self, name: str, label: str, kind: str = "text", hint: str = "", required: bool = False) -> str:
        ident = _id(name)
        attrs, notes = self._described(name, hint)
        if required:
            attrs += " required"
        given = self.values.get(name) or [""]
        if kind in ("textarea", "lines"):
            rows = 6 if kind == "textarea" else 2
            field = f'<textarea id="{ident}" name="{escape(name)}" rows="{rows}"{attrs}>{escape(given[0])}</textarea>'
        elif kind == "select":
            options = "".join(
                f'<option value="{escape(c)}"{" selected" if given[0] == c else ""}>{escape(c or "not known")}</option>'
                for c in _CHOICES[name])
            field = f'<select id="{ident}" name="{escape(name)}"{attrs}>{options}</select>'
        else:
            shown = "text" if kind == "number" else kind  # a number box would drop what it cannot parse
            extra = ' inputmode="numeric"' if kind == "number" else ""
            field = (f'<input type="{shown}" id="{ident}" name="{escape(name)}" '
                     f'value="{escape(given[0])}"{extra}{attrs}>')
        return f'<label for="{ident}">{escape(label)}</label>{notes}{field}'

    def choices(self, name: str, legend: str, options: tuple[str, ...], kind: str, hint: str = "") -> str:
        attrs, notes = self._described(name, hint)
        chosen = set(self.values.get(name) or [])
        boxes = "".join(
            f'<input type="{kind}" id="{_id(name)}-{escape(o)}" name="{escape(name)}" value="{escape(o)}"'
            f'{" checked" if o in chosen else ""}><label for="{_id(name)}-{escape(o)}">{escape(o.replace("_", " "))}'
            "</label> " for o in options)
        return (f'<fieldset id="{_id(name)}"{attrs}><legend>{escape(legend)}</legend>{notes}{boxes}</fieldset>')

    def yes(self, name: str, label: str, hint: str) -> str:
        attrs, notes = self._described(name, hint)
        checked = " checked" if (self.values.get(name) or [""])[0] == "yes" else ""
        return (f'<fieldset{attrs}><legend>{escape(label)}</legend>{notes}<input type="checkbox" id="{_id(name)}" '
                f'name="{escape(name)}" value="yes"{checked}><label for="{_id(name)}">Yes</label></fieldset>')


def render_form(values: Values, problems: list[Problem]) -> str:
    """The form, with ``values`` filled back in and each problem beside its field and in the summary."""
    errors: dict[str, list[str]] = {}
    summary_items = []
    for problem in problems:
        field = field_for(problem.loc)
        target = field if field is not None else (TOKEN_FIELD if problem.loc == TOKEN_FIELD else None)
        if target is not None:
            errors.setdefault(target, []).append(problem.message)
        where = escape(LABELS.get(target or "", problem.loc or "The referral"))
        text = f"{where}: {escape(problem.message)}"
        summary_items.append(f'<li><a href="#{_id(target)}">{text}</a></li>' if target else f"<li>{text}</li>")
    f = _Fields(values, errors)
    summary = ""
    if problems:
        summary = ('<div class="summary" role="alert" aria-labelledby="summary-title" tabindex="-1">'
                   '<h2 id="summary-title">There is a problem with this referral</h2>'
                   f'<ul>{"".join(summary_items)}</ul></div>')
    person = "".join(f.input(f"{_SUBJECT}{name}", label, kind, hint) for name, label, kind, hint in _PERSON_FIELDS)
    content = (
        "<h1>Refer a person</h1>"
        "<p>For partner organisations. Everything you enter is OFFICIAL-SENSITIVE.</p>"
        f"{summary}"
        '<form method="post" action="/referrals/new" accept-charset="utf-8" novalidate>'
        + f.input(TOKEN_FIELD, "Your organisation's API token", "password",
                  "Issued by the toex-stream operators; it is not stored in this page.", required=True)
          .replace('value=""', 'value="" autocomplete="off"', 1)
        + f.input("referral_id", "Your reference for this referral", hint="Unique within your organisation.",
                  required=True)
        + f.choices("exploitation_types", "Kinds of exploitation", get_args(ExploitationType), "checkbox",
                    "Choose every one that applies.")
        + f.choices("urgency", "Urgency", get_args(Urgency), "radio")
        + f.yes("subject_is_child", "Is the person a child (under 18)?", "A child needs no consent.")
        + f.yes("consent_to_share", "Has the person consented to this referral?",
                "Without consent an adult can be referred only anonymously (duty to notify): leave their names, "
                "dates of birth, phones, emails and addresses out.")
        + "<h2>The person</h2>" + person
        + "<h2>Where</h2>"
        + f.input("locations.0.text", "Place") + f.input("locations.0.postcode", "Postcode")
        + f.input("locations.0.town", "Town")
        + "<h2>What happened</h2>"
        + f.input("narrative", "Account", "textarea")
        + f.input("language", "Language of the account", hint="Two-letter code, e.g. en, ro, hu.")
        + '<button type="submit">Send referral</button></form>'
    )
    return _shell("Refer a person", content)


def render_receipt(receipt: Receipt) -> str:
    content = (
        '<div class="receipt" role="status"><h1>Referral received</h1>'
        f'<p>Your receipt reference is <strong id="reference">{escape(receipt.reference)}</strong>.</p>'
        f"<dl><dt>Your reference</dt><dd>{escape(receipt.referral_id)}</dd>"
        f"<dt>Received</dt><dd>{escape(receipt.received_at.strftime('%d %B %Y, %H:%M:%S UTC'))}</dd>"
        f"<dt>Status</dt><dd>{escape(receipt.status)}</dd></dl></div>"
        '<p><a href="/referrals/new">Refer someone else</a></p>'
    )
    return _shell("Referral received", content)


# The pages hold personal data: not cached, not framed, no scripts, posted only back here.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page(html: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={**_HEADERS, **(headers or {})})
