"""Enrich: turn one raw input event into an Observation, or say why it cannot be.

The pipeline's enrich step (:func:`toex_stream.domain.pipeline.enrich_step`), which the
agent in ``streams/`` and replay both run, calls :func:`enrich`; it never raises
for bad input. What it cannot read comes back as a :class:`DeadLetter` holding
the original bytes and a reason a person can act on.

>>> outcome = enrich("toex.adverts", b"adv:1", b'{"schema_version": 1', partition=0, offset=7)
>>> outcome.kind, outcome.reason
('invalid_json', 'the value is not valid JSON: EOF while parsing an object at line 1 column 20')
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
from collections.abc import Iterable

from pydantic import ValidationError

from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import (
    INPUT_MODELS,
    Address,
    Advert,
    DeadLetter,
    DeadLetterKind,
    EventFacts,
    EventRef,
    FieldError,
    InputEvent,
    IntelReport,
    Mention,
    Observation,
    Person,
    Place,
    Referral,
    Source,
    event_key,
    field_errors,
)
from toex_stream.domain.errors import ToexError
from toex_stream.domain.geo import resolve
from toex_stream.domain.normalise import normalise_email, normalise_phone, normalise_postcode
from toex_stream.domain.scoring.indicators import load_lexicon

log = logging.getLogger(__name__)

MAX_REASON_ERRORS = 5


class RejectedEvent(ToexError):
    """An input value that cannot become an Observation."""

    def __init__(self, kind: DeadLetterKind, reason: str, errors: list[FieldError] | None = None):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.errors = errors or []


def decode_event(topic: str, value: bytes | None) -> InputEvent:
    """Decode and validate the value of a message on an input topic.

    Raises :class:`RejectedEvent` naming what is wrong: not UTF-8, not JSON, or
    the fields that break the contract (paths and messages, never the values).
    """
    model = INPUT_MODELS.get(topic)
    if model is None:
        raise RejectedEvent("internal", f"{topic!r} is not an input topic")
    if not value:
        raise RejectedEvent("invalid_json", "the value is empty (a null or zero-length message)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedEvent(
            "not_utf8", f"the value is not valid UTF-8 (byte {exc.start} cannot be decoded)"
        ) from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise _rejection(model.__name__, exc) from None


def _rejection(model_name: str, exc: ValidationError) -> RejectedEvent:
    details = exc.errors(include_url=False, include_input=False, include_context=False)
    if details and details[0]["type"] == "json_invalid":
        problem = details[0]["msg"].removeprefix("Invalid JSON: ")
        return RejectedEvent("invalid_json", f"the value is not valid JSON: {problem}")
    if details and details[0]["type"] == "model_type":
        return RejectedEvent("schema", f"the value must be a JSON object (a {model_name})")
    errors = field_errors(exc)
    shown = "; ".join(f"{e.path}: {e.message}" for e in errors[:MAX_REASON_ERRORS])
    more = f" (and {len(errors) - MAX_REASON_ERRORS} more)" if len(errors) > MAX_REASON_ERRORS else ""
    noun = "error" if len(errors) == 1 else "errors"
    return RejectedEvent(
        "schema", f"does not match the {model_name} contract, {len(errors)} {noun}: {shown}{more}", errors
    )


# -- observations ------------------------------------------------------------------

# Working names in advert text: "I'm Reka", "my name is Anna", "ask for Bella",
# Hungarian "a nevem Réka" / "Réka vagyok", Romanian "numele meu este Ana" / "sunt Ana".
_NAME = r"([A-ZÁÉÍÓÖŐÚÜŰĂÂÎȘŞȚŢ][a-záéíóöőúüűăâîșşțţ]{1,20})"
_WORKING_NAME_PATTERNS = [
    re.compile(p)
    for p in (
        r"\b(?:[Ii]'?m|I am|[Mm]y name is|[Cc]all me|[Aa]sk for|[Nn]ame:)\s+" + _NAME,
        r"\b(?:[Aa] nevem|[Nn]evem)\s+" + _NAME,
        _NAME + r"\s+vagyok\b",
        r"\b(?:[Nn]umele meu (?:este|e)|[Mm]ă numesc|[Ss]unt)\s+" + _NAME,
    )
]
_NOT_NAMES = frozenset(
    "New Hot Sexy Here Back Available Open Young Real Sweet Independent Busty Just Only Very Top "
    "The Your Ready Waiting Totally Always Fresh Naughty Discreet Genuine Sunt Nou Noua Új".split()
)


def extract_working_names(*texts: str) -> list[str]:
    """Names an advert's author gives themself, in order of first appearance.

    >>> extract_working_names("New in town!", "Hi, I'm Reka, 21. Ask for Bella too. I'm new")
    ['Reka', 'Bella']
    >>> extract_working_names("Réka vagyok", "Numele meu este Ioana")
    ['Réka', 'Ioana']
    """
    found: list[tuple[int, int, str]] = []
    for order, text in enumerate(texts):
        for pattern in _WORKING_NAME_PATTERNS:
            for match in pattern.finditer(text):
                name = match.group(1)
                if name not in _NOT_NAMES:
                    found.append((order, match.start(1), name))
    names: list[str] = []
    for _, _, name in sorted(found):
        if name not in names:
            names.append(name)
    return names


def _place(address: Address, force_code: str | None = None) -> Place:
    postcode = normalise_postcode(address.postcode) if address.postcode else None
    town = address.town.strip() if address.town else None
    # An intelligence report's own force is the fallback when the place itself does not resolve.
    where = resolve(postcode=postcode, town=town or address.text, force_code=force_code)
    return Place(
        text=address.text, postcode=postcode or None, town=town or None,
        force_code=where.force_code, region=where.region,
    )


def _mention(person: Person, mention_id: str) -> Mention:
    return Mention(
        mention_id=mention_id,
        role=person.role,
        given_name=person.given_name,
        family_name=person.family_name,
        aliases=list(person.aliases),
        date_of_birth=person.date_of_birth,
        age=person.age,
        gender=person.gender,
        nationality=person.nationality,
        phones=_unique(normalise_phone(p) for p in person.phones),
        emails=_unique(normalise_email(e) for e in person.emails),
        addresses=list(person.addresses),
    )


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _places(addresses: list[Address], force_code: str | None = None) -> list[Place]:
    places = (_place(a, force_code) for a in addresses)
    return list(dict.fromkeys(p for p in places if p.text or p.postcode or p.town))


def _facts(event: InputEvent, places: list[Place]) -> EventFacts:
    towns = sorted({p.town for p in places if p.town})
    if isinstance(event, Advert):
        lexicon = load_lexicon()
        weights = lexicon.category_weights(lexicon.extract(event.title, event.body))
        return EventFacts(indicator_weights=weights, lexicon_version=lexicon.version, towns=towns)
    if isinstance(event, Referral):
        return EventFacts(exploitation_types=list(event.exploitation_types), urgency=event.urgency,
                          subject_is_child=event.subject_is_child, towns=towns)
    return EventFacts(source_evaluation=event.source_evaluation,
                      intelligence_assessment=event.intelligence_assessment,
                      handling_code=event.handling_code, threat_tags=list(event.threat_tags), towns=towns)


# An amended referral's observation id: its event's with "@r<revision>" (new mention ids too, so that
# the amendment is not taken for a redelivery of the referral).
REVISION_MARK = "@r"


def revision_of(observation: Observation) -> int:
    """Which revision of its referral an observation saw: 0, or n from its id's '@r<n>' (an amendment).

    Read past the event's own ref, since a referral_id may itself hold "@r".
    """
    suffix = observation.observation_id.removeprefix(f"{observation.event_ref.topic}:{observation.event_ref.key}")
    number = suffix.removeprefix(REVISION_MARK)
    return int(number) if suffix.startswith(REVISION_MARK) and number.isdigit() else 0


def observe(event: InputEvent, *, topic: str, key: str, partition: int, offset: int) -> Observation:
    """The Observation of a valid input event: its person mentions and its places."""
    ref = f"{topic}:{key}"
    if isinstance(event, Referral) and event.revision:
        ref += f"{REVISION_MARK}{event.revision}"
    if isinstance(event, Advert):
        names = extract_working_names(event.title, event.body)
        mention = Mention(
            mention_id=f"{ref}#0",
            role="unknown",
            given_name=names[0] if names else None,
            aliases=names[1:],
            age=event.stated_age,
            nationality=event.stated_nationality,
            phones=_unique(normalise_phone(p) for p in event.phones),
            emails=_unique(normalise_email(e) for e in event.emails),
            addresses=[event.location],
        )
        places = _places([event.location])
        return Observation(
            schema_version=1,
            observation_id=ref,
            source="advert",
            event_ref=EventRef(topic=topic, key=key),
            partition=partition,
            offset=offset,
            occurred_at=event.observed_at,
            mentions=[mention],
            places=places,
            facts=_facts(event, places),
        )
    subjects = event.subjects
    mentions = [_mention(person, f"{ref}#{i}") for i, person in enumerate(subjects)]
    addresses = list(event.locations) + [a for person in subjects for a in person.addresses]
    source: Source
    if isinstance(event, Referral):
        source, occurred_at, force_code = "referral", event.submitted_at, None
    else:
        assert isinstance(event, IntelReport)
        source, occurred_at, force_code = "intel", event.recorded_at, event.force_code
    places = _places(addresses, force_code)
    return Observation(
        schema_version=1,
        observation_id=ref,
        source=source,
        event_ref=EventRef(topic=topic, key=key),
        partition=partition,
        offset=offset,
        occurred_at=occurred_at,
        force_code=force_code,
        mentions=mentions,
        places=places,
        facts=_facts(event, places),
    )


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    rejection: RejectedEvent,
    now: dt.datetime | None = None,
) -> DeadLetter:
    """The dead letter for a rejected message: original bytes, where it came from, and why."""
    return DeadLetter(
        schema_version=1,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key_b64=base64.b64encode(key).decode("ascii") if key is not None else None,
        value_b64=base64.b64encode(value or b"").decode("ascii"),
        kind=rejection.kind,
        reason=rejection.reason,
        errors=rejection.errors,
        failed_at=now or utc_now(),
    )


def enrich(
    topic: str, key: bytes | None, value: bytes | None, *, partition: int, offset: int
) -> Observation | DeadLetter:
    """Observation of one message, or its dead letter; never raises for bad input."""
    try:
        event = decode_event(topic, value)
    except RejectedEvent as rejection:
        return dead_letter(
            topic=topic, partition=partition, offset=offset, key=key, value=value, rejection=rejection
        )
    try:
        # The contract's key, not whatever key the producer set: the observation id
        # must be the same for the same event however it was sent.
        return observe(event, topic=topic, key=event_key(event), partition=partition, offset=offset)
    except Exception as exc:  # a bug must cost one event a dead letter, not the worker
        # The exception's text may quote personal data: keep only its type.
        kind = type(exc).__name__
        internal = RejectedEvent("internal", f"enrich failed on a valid event ({kind}); report it as a bug")
        log.error("enrich failed topic=%s partition=%d offset=%d error=%s", topic, partition, offset, kind)
        return dead_letter(
            topic=topic, partition=partition, offset=offset, key=key, value=value, rejection=internal
        )
