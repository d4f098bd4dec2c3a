"""The event contract, version 1: one pydantic model per topic value.

Field names are fixed: partners and tests outside this repository produce
them, from the JSON Schemas in ``schemas/`` (:mod:`toex_stream.entry.schemas`).
Optional fields may be added; none is ever renamed or removed. Types are
strict (a number is not a string, an unknown enumeration value is an error);
unknown extra fields are ignored, so that a producer on a later minor version
of the contract is still understood.

>>> ref = Referral.model_validate_json(
...     '{"schema_version": 1, "referral_id": "R-1", "partner_id": "p1",'
...     ' "submitted_at": "2026-11-01T09:30:00+01:00", "exploitation_types": ["labour"],'
...     ' "subjects": [{"role": "potential_victim", "nationality": "RO"}],'
...     ' "urgency": "standard", "consent_to_share": true, "subject_is_child": false}')
>>> ref.submitted_at.isoformat(), event_key(ref)
('2026-11-01T08:30:00+00:00', 'p1:R-1')
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from toex_stream.domain.codes import COUNTRY_CODES, LANGUAGE_CODES

SCHEMA_VERSION = 1

# Topic names are part of the contract; their partitions and retention are
# declared in ``toex_stream/adapters/topics.py`` (re-exported by ``streams/topics.py``).
TOPIC_REFERRALS = "toex.referrals"
TOPIC_ADVERTS = "toex.adverts"
TOPIC_INTEL = "toex.intel"
TOPIC_NOMINALS = "toex.nominals"
TOPIC_FEEDBACK = "toex.feedback"
TOPIC_OBSERVATIONS = "toex.observations"
TOPIC_MATCHES = "toex.matches"
TOPIC_SCORES = "toex.scores"
TOPIC_TRAINING = "toex.training"
TOPIC_ALERTS = "toex.alerts"
TOPIC_DEADLETTER = "toex.deadletter"
TOPIC_SITUATION_INPUT = "toex.situation-input"  # internal: the situation step's one partition
INPUT_TOPICS: tuple[str, ...] = (TOPIC_REFERRALS, TOPIC_ADVERTS, TOPIC_INTEL)

# -- reusable field types ------------------------------------------------------

# A character that is not white space, spelt out so that the published schema (an ECMA regular expression,
# whose \s lacks U+0085 and has U+FEFF) and the validation (Rust's regex: Unicode White_Space, the other way
# round) agree on every character. (Ids keep \S: spelt out there, the API fuzz test's coverage phase spends
# its whole time budget on the id fields; a difference at U+0085 in an id is left, noted.)
NOT_SPACE = r"[^\s\u0085\ufeff]"
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Name = Annotated[str, StringConstraints(max_length=100)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Email = Annotated[str, StringConstraints(min_length=1, max_length=254)]
ImageHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8,256}$")]
Flag = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ForceCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]


def _country(code: str) -> str:
    if code not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (upper case, e.g. 'GB', 'HU', 'RO')")
    return code


def _language(code: str) -> str:
    if code not in LANGUAGE_CODES:
        raise ValueError("not an ISO 639-1 language code (lower case, e.g. 'en', 'hu')")
    return code


def _utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC: an error, not a crash of the reader
        raise ValueError("this time is out of range once converted to UTC") from None


# Checked in code (a short error message) but published as an enumeration.
Country = Annotated[
    str,
    AfterValidator(_country),
    WithJsonSchema({"type": "string", "enum": sorted(COUNTRY_CODES), "description": "ISO 3166-1 alpha-2"}),
]
Language = Annotated[
    str,
    AfterValidator(_language),
    WithJsonSchema({"type": "string", "enum": sorted(LANGUAGE_CODES), "description": "ISO 639-1"}),
]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


def _integral(value: Any) -> Any:
    # JSON Schema counts 50.0 as an integer, and so do producers that write every number as a float;
    # 50.5 (and "50") stay errors.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An age in years as JSON Schema means "integer": a whole number, however it is written.
Age = Annotated[Annotated[int, Field(ge=0, le=120)], BeforeValidator(_integral)]

Gender = Literal["female", "male", "other", "unknown"]
Role = Literal["potential_victim", "suspect", "witness", "other", "unknown"]
ExploitationType = Literal[
    "labour",
    "sexual",
    "criminal",
    "domestic_servitude",
    "organ_harvesting",
    "domestic_abuse",
    "other",
    "unknown",
]
Urgency = Literal["immediate_risk", "standard"]
SourceEvaluation = Literal[1, 2, 3]
IntelligenceAssessment = Literal["A", "B", "C", "D", "E"]
HandlingCode = Literal["P", "C"]
Outcome = Literal["confirmed", "not_relevant", "duplicate", "safeguarded", "arrest"]
Band = Literal["low", "medium", "high", "critical"]
AlertStatus = Literal["open", "acknowledged", "closed"]
Region = Literal[
    "NERSOU",
    "NWROCU",
    "YHROCU",
    "EMSOU",
    "ROCUWM",
    "ERSOU",
    "SEROCU",
    "SWROCU",
    "TARIAN",
    "LONDON",
    "UNKNOWN",
]
Source = Literal["referral", "advert", "intel"]
# Which topic each kind of input event goes to: the one map (the command line's --type uses it).
SOURCE_TOPICS: dict[str, str] = {"referral": TOPIC_REFERRALS, "advert": TOPIC_ADVERTS, "intel": TOPIC_INTEL}


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def not_a_boolean(value: Any) -> Any:
    """Refuse true and false where a number is meant: pydantic takes True for Literal[1], JSON Schema does not."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


class _TopLevel(_Model):
    schema_version: Annotated[Literal[1], BeforeValidator(not_a_boolean)] = Field(
        description="Contract version of this value; always 1.")


EARLIEST_BIRTH_YEAR = 1900


def _dob_not_in_future(value: dt.date | None) -> dt.date | None:
    if value is not None and value > dt.date.today():
        raise ValueError("a date of birth cannot be in the future")
    if value is not None and value.year < EARLIEST_BIRTH_YEAR:
        raise ValueError(f"a date of birth before {EARLIEST_BIRTH_YEAR} is not plausible")
    return value


DateOfBirth = Annotated[dt.date | None, AfterValidator(_dob_not_in_future)]

# Validation messages never repeat the value they reject: they end up in logs
# and dead letters, and the values are personal data.

# -- nested objects --------------------------------------------------------------


class Address(_Model):
    text: ShortText | None = None
    postcode: Annotated[str, StringConstraints(max_length=16)] | None = None
    town: Annotated[str, StringConstraints(max_length=100)] | None = None


class Person(_Model):
    """A mention of a person in an event: every field may be null or empty but ``role``."""

    given_name: Name | None = None
    family_name: Name | None = None
    aliases: Annotated[list[Name], Field(max_length=50)] = []
    date_of_birth: DateOfBirth = None
    age: Age | None = None
    gender: Gender | None = None
    nationality: Country | None = None
    phones: Annotated[list[Phone], Field(max_length=50)] = []
    emails: Annotated[list[Email], Field(max_length=50)] = []
    addresses: Annotated[list[Address], Field(max_length=50)] = []
    role: Role


class EventRef(_Model):
    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    key: Annotated[str, StringConstraints(max_length=300)]


class Reason(_Model):
    feature: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    contribution: float
    text: Annotated[str, StringConstraints(max_length=500)]


# -- topic values ------------------------------------------------------------------


class Referral(_TopLevel):
    """``toex.referrals``: a partner's referral. Key ``partner_id:referral_id``."""

    referral_id: Id
    partner_id: Id
    submitted_at: UtcDatetime
    exploitation_types: Annotated[list[ExploitationType], Field(min_length=1, max_length=8)]
    subjects: Annotated[list[Person], Field(max_length=50)] = []
    locations: Annotated[list[Address], Field(max_length=50)] = []
    narrative: LongText = ""
    language: Language | None = None
    urgency: Urgency
    consent_to_share: bool
    subject_is_child: bool
    revision: Annotated[int, Field(ge=0, le=1000, description=(
        "0 as first sent; n for its n-th amendment, published by the intake under the same key. Each "
        "revision is an event of its own (observation '<topic>:<key>@r<n>') that replaces the earlier "
        "revision's evidence in the scores."))] = 0


class Advert(_TopLevel):
    """``toex.adverts``: an online advert observed by a feed. Key ``source:advert_id``."""

    advert_id: Id
    source: Id
    observed_at: UtcDatetime
    posted_at: UtcDatetime | None = None
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    title: Annotated[str, StringConstraints(max_length=500)] = ""
    body: LongText = ""
    phones: Annotated[list[Phone], Field(max_length=50)] = []
    emails: Annotated[list[Email], Field(max_length=50)] = []
    location: Address = Address()
    stated_age: Age | None = None
    stated_nationality: Country | None = None
    image_hashes: Annotated[list[ImageHash], Field(max_length=100)] = []
    language: Language | None = None


class IntelReport(_TopLevel):
    """``toex.intel``: a force intelligence report with its 3x5x2 grading. Key ``intel_id``."""

    intel_id: Id
    force_code: ForceCode
    recorded_at: UtcDatetime
    source_evaluation: SourceEvaluation
    intelligence_assessment: IntelligenceAssessment
    handling_code: HandlingCode
    subjects: Annotated[list[Person], Field(max_length=50)] = []
    locations: Annotated[list[Address], Field(max_length=50)] = []
    text: LongText = ""
    threat_tags: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)] = []


class Nominal(_TopLevel):
    """``toex.nominals`` (compacted): a person a force already holds. Key ``nominal_id``."""

    nominal_id: Id
    given_name: Name | None = None
    family_name: Name | None = None
    aliases: Annotated[list[Name], Field(max_length=50)] = []
    date_of_birth: DateOfBirth = None
    gender: Gender | None = None
    nationality: Country | None = None
    phones: Annotated[list[Phone], Field(max_length=50)] = []
    emails: Annotated[list[Email], Field(max_length=50)] = []
    addresses: Annotated[list[Address], Field(max_length=50)] = []
    flags: Annotated[list[Flag], Field(max_length=20)] = []
    owning_force: ForceCode | None = None
    updated_at: UtcDatetime


class Feedback(_TopLevel):
    """``toex.feedback``: an analyst's outcome for an alert; the scorer learns from it."""

    alert_id: Id
    nominal_id: Id | None = None
    outcome: Outcome
    analyst_id: Id
    at: UtcDatetime
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


MemberRole = Literal["suspected_controller", "possible_victim", "unknown"]


class AlertMember(_Model):
    """One nominal of an alert's situation: the role its events give it, and what links it to the others."""

    nominal_id: Id
    role: MemberRole
    provisional: bool = Field(default=False, description="An unknown person the stream made a nominal of.")
    linked_by: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default=[], description="How it is linked: 'named together with N-2 in toex.referrals:p:R-1', "
                                "'shared phone with N-3' (references, never the value).")


class Alert(_TopLevel):
    """``toex.alerts``: what a regional team is asked to review.

    An alert is about a situation (round 2): a connected group of linked
    nominals, one alert per situation per region; ``threat`` and ``band`` are
    the highest of ``bands``.
    """

    alert_id: Id
    created_at: UtcDatetime
    region: Region
    force_code: ForceCode | None = None
    threat: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    band: Band
    risk_score: Annotated[float, Field(ge=0.0, le=1.0)]
    nominal_ids: list[Id] = []
    event_refs: list[EventRef] = []
    reasons: list[Reason] = []
    model_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    status: AlertStatus = "open"
    situation_id: Id | None = Field(default=None, description="The situation it is about (stable under replay).")
    threats: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = []
    bands: dict[str, Band] = Field(default={}, description="The band under each threat.")
    members: list[AlertMember] = []
    version: int = Field(default=1, ge=1, description="Rises each time the alert grows.")
    url: Annotated[str, StringConstraints(max_length=500)] | None = None
    merged_into: Id | None = Field(default=None, description="Closed as merged: the alert that lives on.")


class Mention(_Model):
    """One person as an event mentions them, with identifiers cleaned for matching."""

    mention_id: Id = Field(description="Stable: the event reference and the position in it.")
    role: Role
    given_name: Name | None = None
    family_name: Name | None = None
    aliases: list[Name] = []
    date_of_birth: dt.date | None = None
    age: int | None = None
    gender: Gender | None = None
    nationality: Country | None = None
    phones: list[str] = Field(default=[], description="E.164 where the number parses, else as written.")
    emails: list[str] = Field(default=[], description="Lower-cased, trimmed.")
    addresses: list[Address] = []


class Place(_Model):
    """A place an event names: a location, an address of a subject, or an advert's location."""

    text: ShortText | None = None
    postcode: str | None = Field(default=None, description="Upper-case, single-spaced when UK-shaped.")
    town: str | None = None
    force_code: ForceCode | None = Field(default=None, description="The police force the place resolves to.")
    region: Region = Field(default="UNKNOWN", description="The ROCU region of that force.")


class EventFacts(_Model):
    """What scoring needs to know of the event a mention came from (no personal data)."""

    exploitation_types: list[ExploitationType] = []
    urgency: Urgency | None = None
    subject_is_child: bool = False
    source_evaluation: SourceEvaluation | None = None
    intelligence_assessment: IntelligenceAssessment | None = None
    handling_code: HandlingCode | None = Field(default=None, description="Intelligence only: the 3x5x2 handling code.")
    threat_tags: list[str] = []
    indicator_weights: dict[str, float] = Field(
        default={}, description="Advert indicator weight per category (lexicon), adverts only."
    )
    lexicon_version: int | None = None
    towns: list[str] = Field(default=[], description="Towns the event places its people in.")


class Observation(_TopLevel):
    """``toex.observations``: what enrich saw in one input event. Key: the event's key."""

    observation_id: Id = Field(description="'<topic>:<key>' of the event ('@r<n>' added for a referral's n-th "
                                            "amendment); stable across replays.")
    source: Source
    event_ref: EventRef
    partition: int
    offset: int
    occurred_at: UtcDatetime = Field(description="submitted_at, observed_at or recorded_at.")
    force_code: ForceCode | None = None
    mentions: list[Mention]
    places: list[Place]
    facts: EventFacts = EventFacts()


MatchDecisionKind = Literal["match", "possible_match", "new"]


class MatchWeight(_Model):
    """One bar of a match waterfall: a field's comparison level and its weight in bits."""

    field: str
    level: str
    weight: float
    tf_adjusted: bool = False


class SituationEvidence(_Model):
    """What one event says about who is linked: the nominals it names with their roles, and the identifiers
    each showed, as ``kind:<hash>`` (equal values, equal hashes; the values stay on the event)."""

    event: Annotated[str, StringConstraints(min_length=1, max_length=600)]
    at: UtcDatetime
    members: list[tuple[Id, Role]] = []
    identifiers: list[tuple[Id, Annotated[str, StringConstraints(max_length=40)]]] = []
    on_record: list[tuple[Id, Annotated[str, StringConstraints(max_length=40)]]] = Field(
        default=[], description="Which of those identifiers a nominal shows because a force holds it on their "
                                "record (not because an event showed it).")


class MatchResult(_TopLevel):
    """``toex.matches``: who one mention is. Key: ``nominal_id`` (the person the evidence accrues to)."""

    mention_id: Id
    observation_id: Id
    source: Source
    event_ref: EventRef
    occurred_at: UtcDatetime
    role: Role
    decision: MatchDecisionKind
    nominal_id: Id = Field(description="The matched nominal, or the provisional one this mention created.")
    provisional: bool = Field(description="Whether nominal_id is a provisional nominal (an unknown person).")
    review_nominal_id: Id | None = Field(
        default=None, description="For possible_match: the known nominal a person should compare it with."
    )
    probability: Annotated[float, Field(ge=0.0, le=1.0)]
    prior_weight: float
    weights: list[MatchWeight]
    candidates: int
    model_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    places: list[Place] = []
    facts: EventFacts = EventFacts()
    phones: list[str] = Field(default=[], description="The mention's phones (E.164), for touring features.")
    nominal_flags: list[str] = Field(default=[], description="Flags of the resolved nominal (ocg_member, ...).")
    linked_nominals: int = Field(default=0, description="Other nominals sharing a phone or email with the mention.")
    evidence: SituationEvidence | None = Field(
        default=None, description="Who the mention's event links: every nominal it names, and their identifiers.")


class Score(_TopLevel):
    """``toex.scores``: a nominal's risk under one threat profile after one event. Key: ``nominal_id``."""

    nominal_id: Id
    threat: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    profile_version: str
    model_version: str
    risk_score: Annotated[float, Field(ge=0.0, le=1.0)]
    band: Band
    reasons: list[Reason]
    event_ref: EventRef
    mention_id: Id
    occurred_at: UtcDatetime
    region: Region = "UNKNOWN"
    force_code: ForceCode | None = None
    event_count: int = Field(description="Events linked to the nominal in the last 30 days.")
    features: dict[str, float] = Field(description="The feature values scored (counts and weights, no personal data).")


class SituationInput(_TopLevel):
    """``toex.situation-input`` (internal, one partition): what the situation step reads, in one order.

    ``scored``: a match's evidence and its nominal's scores (from the score
    step); ``closed``: an analyst closed ``alert_id`` (from the feedback step);
    ``erased``: the nominal was erased. Key: ``nominal_id``.
    """

    kind: Literal["scored", "closed", "erased"]
    nominal_id: Id
    evidence: SituationEvidence | None = None
    scores: list[Score] = []
    alert_id: Id | None = None


class TrainingExample(_TopLevel):
    """``toex.training``: an analyst's outcome joined with the features it judged; every worker learns from it."""

    nominal_id: Id
    threat: str
    label: bool
    outcome: Outcome
    features: dict[str, float]
    at: UtcDatetime


DeadLetterKind = Literal["not_utf8", "invalid_json", "schema", "internal"]


class FieldError(_Model):
    path: str = Field(description="Dotted path of the field, e.g. 'subjects.0.nationality'.")
    message: str



def field_errors(error: ValidationError) -> list[FieldError]:
    """Every field a validation refused, as a dotted path and pydantic's message, never the value refused.

    The one formatter of validation errors: dead letters, the command line and the nominal import use it.

    >>> try:
    ...     Person.model_validate({"role": "boss", "age": -1})
    ... except ValidationError as exc:
    ...     print([error.path for error in field_errors(exc)])
    ['age', 'role']
    """
    return [FieldError(path=".".join(str(part) for part in detail["loc"]) or "(value)", message=detail["msg"])
            for detail in error.errors(include_url=False, include_input=False, include_context=False)]


class DeadLetter(_TopLevel):
    """``toex.deadletter``: an input that could not be processed, kept whole with the reason."""

    source_topic: str
    partition: int
    offset: int
    key_b64: str | None = Field(description="The original key bytes, base64; null if none.")
    value_b64: str = Field(description="The original value bytes, base64.")
    kind: DeadLetterKind
    reason: str = Field(description="What was wrong, for a person; holds no field values.")
    errors: list[FieldError] = []
    failed_at: UtcDatetime


InputEvent = Referral | Advert | IntelReport

# The input topics' models: what TOPIC_MODELS holds for them, typed so that decoding yields an InputEvent.
INPUT_MODELS: dict[str, type[Referral] | type[Advert] | type[IntelReport]] = {
    TOPIC_REFERRALS: Referral,
    TOPIC_ADVERTS: Advert,
    TOPIC_INTEL: IntelReport,
}

TOPIC_MODELS: dict[str, type[_TopLevel]] = {
    TOPIC_REFERRALS: Referral,
    TOPIC_ADVERTS: Advert,
    TOPIC_INTEL: IntelReport,
    TOPIC_NOMINALS: Nominal,
    TOPIC_FEEDBACK: Feedback,
    TOPIC_ALERTS: Alert,
    TOPIC_OBSERVATIONS: Observation,
    TOPIC_MATCHES: MatchResult,
    TOPIC_SCORES: Score,
    TOPIC_TRAINING: TrainingExample,
    TOPIC_DEADLETTER: DeadLetter,
}


def event_key(event: InputEvent) -> str:
    """The Kafka key the contract gives an input event (idempotency and partitioning)."""
    if isinstance(event, Referral):
        return f"{event.partner_id}:{event.referral_id}"
    if isinstance(event, Advert):
        return f"{event.source}:{event.advert_id}"
    return event.intel_id


def detect_topic(value: Any) -> str | None:
    """Guess which input topic a decoded JSON object is for, from its id field.

    >>> detect_topic({"advert_id": "a1"}), detect_topic({"x": 1})
    ('toex.adverts', None)
    """
    if not isinstance(value, dict):
        return None
    for field, topic in (
        ("referral_id", TOPIC_REFERRALS),
        ("advert_id", TOPIC_ADVERTS),
        ("intel_id", TOPIC_INTEL),
    ):
        if field in value:
            return topic
    return None
