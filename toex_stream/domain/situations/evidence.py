"""What one observed event says about who is linked: its :class:`~toex_stream.domain.situations.links.Evidence`.

The nominals its mentions were resolved to, each with the role it was named
in, and the identifiers each mention showed: phones and emails as enrich
normalised them, and an address where it is precise enough to be one place (a
postcode with a house number and street); a town, or a postcode alone, is
shared by thousands and links no one.

>>> import datetime as dt
>>> from toex_stream.domain import contract
>>> observation = contract.Observation(
...     schema_version=1, observation_id="toex.referrals:p:R-1", source="referral",
...     event_ref=contract.EventRef(topic="toex.referrals", key="p:R-1"), partition=0, offset=0,
...     occurred_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc), places=[], mentions=[
...         contract.Mention(mention_id="toex.referrals:p:R-1#0", role="suspect", phones=["+447700900123"]),
...         contract.Mention(mention_id="toex.referrals:p:R-1#1", role="potential_victim",
...                          addresses=[contract.Address(text="12 Mill Street", postcode="nn1 2ab")])])
>>> evidence = evidence_of(observation, {"toex.referrals:p:R-1#0": "N-boss", "toex.referrals:p:R-1#1": "N-w"})
>>> evidence.members
(('N-boss', 'suspect'), ('N-w', 'potential_victim'))
>>> evidence.identifiers == (('N-boss', hashed('p:+447700900123')), ('N-w', hashed('a:NN1 2AB|12 mill street')))
True
>>> as_evidence(as_contract(evidence)) == evidence
True

A precise place the event names (where intelligence saw its subject) is shown by the people it names:

>>> seen = observation.model_copy(update={"places": [contract.Place(text="4 Mill Street", postcode="NN1 2AB")]})
>>> ('N-boss', hashed('a:NN1 2AB|4 mill street')) in evidence_of(seen, {"toex.referrals:p:R-1#0": "N-boss"}).identifiers
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from toex_stream.domain import contract
from toex_stream.domain.normalise import normalise_postcode
from toex_stream.domain.situations.links import Evidence

# A value on more nominals' records than this is not read through (a switchboard, a shared inbox).
MAX_HOLDERS = 10
_HOUSE = re.compile(r"^\s*(?:flat\s+\w+,?\s*)?\d+[a-z]?\b", re.IGNORECASE)


def address_key(address: contract.Address) -> str | None:
    """``a:<POSTCODE>|<number and street>`` for an address precise enough to be one place, else None.

    >>> address_key(contract.Address(text="12  Mill Street, Northampton", postcode="NN1 2AB"))
    'a:NN1 2AB|12 mill street'
    >>> address_key(contract.Address(text="Northampton", postcode="NN1 2AB"))
    >>> address_key(contract.Address(town="Leeds"))
    """
    if not address.postcode or not address.text or not _HOUSE.match(address.text):
        return None
    street = " ".join(address.text.split(",")[0].lower().split())
    return f"a:{normalise_postcode(address.postcode)}|{street}"


def hashed(identifier: str) -> str:
    """``kind:value`` as ``kind:<16 hex digits>``: what links is equality, not the value.

    >>> hashed("p:+447700900123") == hashed("p:+447700900123"), hashed("p:+447700900123")[:2]
    (True, 'p:')
    """
    kind, _, value = identifier.partition(":")
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:16]}"


def as_contract(evidence: Evidence) -> contract.SituationEvidence:
    """The evidence as it travels on a match (``MatchResult.evidence``)."""
    return contract.SituationEvidence(
        event=evidence.event, at=dt.datetime.fromtimestamp(evidence.at, dt.timezone.utc),
        members=list(evidence.members), identifiers=list(evidence.identifiers),  # type: ignore[arg-type]  # roles as read
        on_record=list(evidence.on_record))


def as_evidence(carried: contract.SituationEvidence) -> Evidence:
    return Evidence(carried.event, carried.at.timestamp(), tuple(map(tuple, carried.members)),  # type: ignore[arg-type]
                    tuple(map(tuple, carried.identifiers)), tuple(map(tuple, carried.on_record)))  # type: ignore[arg-type]


def evidence_of(observation: contract.Observation, nominal_of: Mapping[str, str],
                holders: Callable[[Literal["p", "e"], str], Iterable[str]] | None = None) -> Evidence:
    """The event's evidence: ``nominal_of`` maps each resolved mention id to its nominal.

    ``holders(kind, value)`` (the match index's) names the nominals whose
    records hold a phone (``p``) or email (``e``): they show it too, as of this
    event (``on_record``), so an advert's number links the person it resolved to
    and the known nominal on record with it (up to :data:`MAX_HOLDERS` of them:
    more is a switchboard).

    A precise address among the event's places (where an intelligence report
    saw its subject, the house a referral is about) is shown by every person
    the event names: it links them to others who live or were seen there.
    """
    members: list[tuple[str, str]] = []
    identifiers: list[tuple[str, str]] = []
    on_record: list[tuple[str, str]] = []
    for mention in observation.mentions:
        nominal = nominal_of.get(mention.mention_id)
        if nominal is None:
            continue
        members.append((nominal, mention.role))
        kinds: tuple[tuple[Literal["p", "e"], list[str]], ...] = (("p", mention.phones), ("e", mention.emails))
        for kind, values in kinds:
            for value in values:
                key = hashed(f"{kind}:{value}")
                identifiers.append((nominal, key))
                recorded = sorted(holders(kind, value)) if holders is not None else []
                if len(recorded) <= MAX_HOLDERS:
                    identifiers += [(holder, key) for holder in recorded]
                    on_record += [(holder, key) for holder in recorded]
        identifiers += [(nominal, hashed(key)) for key in map(address_key, mention.addresses) if key is not None]
    places = [key for key in (address_key(contract.Address(text=p.text, postcode=p.postcode))
                              for p in observation.places) if key is not None]
    identifiers += [(nominal, hashed(key)) for nominal, _ in members for key in places]
    event = f"{observation.event_ref.topic}:{observation.event_ref.key}"
    return Evidence(event, observation.occurred_at.timestamp(), tuple(members), tuple(dict.fromkeys(identifiers)),
                    tuple(dict.fromkeys(on_record)))
