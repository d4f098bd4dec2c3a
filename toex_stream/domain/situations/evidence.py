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
>>> evidence.identifiers
(('N-boss', 'p:+447700900123'), ('N-w', 'a:NN1 2AB|12 mill street'))
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from toex_stream.domain import contract
from toex_stream.domain.normalise import normalise_postcode
from toex_stream.domain.situations.links import Evidence

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


def evidence_of(observation: contract.Observation, nominal_of: Mapping[str, str]) -> Evidence:
    """The event's evidence: ``nominal_of`` maps each resolved mention id to its nominal."""
    members: list[tuple[str, str]] = []
    identifiers: list[tuple[str, str]] = []
    for mention in observation.mentions:
        nominal = nominal_of.get(mention.mention_id)
        if nominal is None:
            continue
        members.append((nominal, mention.role))
        identifiers += [(nominal, f"p:{phone}") for phone in mention.phones]
        identifiers += [(nominal, f"e:{email}") for email in mention.emails]
        identifiers += [(nominal, key) for key in map(address_key, mention.addresses) if key is not None]
    event = f"{observation.event_ref.topic}:{observation.event_ref.key}"
    return Evidence(event, observation.occurred_at.timestamp(), tuple(members), tuple(dict.fromkeys(identifiers)))
