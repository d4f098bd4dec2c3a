"""Provisional nominals: the people and phones nobody holds yet, created from unmatched mentions.

One definition for the matcher and the store: the flag that marks them (it
travels with the nominal on ``toex.nominals``) and the id, derived from the
mention id so that a replay creates the same nominal again, not a second one.

>>> provisional_id("toex.adverts:site:1#0")
'prov-785af02fee7c636b'
"""

from __future__ import annotations

import datetime as dt
import hashlib

from toex_stream.domain import contract

PROVISIONAL_FLAG = "provisional"


def provisional_id(mention_id: str) -> str:
    """The id of the provisional nominal an unmatched mention creates."""
    return "prov-" + hashlib.sha256(mention_id.encode()).hexdigest()[:16]


def is_provisional_id(nominal_id: str) -> bool:
    """Whether a nominal id is a provisional nominal's (every one is made by :func:`provisional_id`)."""
    return nominal_id.startswith("prov-")


def is_provisional(nominal: contract.Nominal) -> bool:
    """Whether a nominal was created from an unmatched mention rather than held by a force."""
    return PROVISIONAL_FLAG in nominal.flags


def provisional_nominal(mention: contract.Mention, at: dt.datetime) -> contract.Nominal:
    """What the mention says, as a provisional nominal.

    A stated age has no place on a nominal: it changes with time, a date of birth does not.
    """
    return contract.Nominal(
        schema_version=1,
        nominal_id=provisional_id(mention.mention_id),
        given_name=mention.given_name,
        family_name=mention.family_name,
        aliases=list(mention.aliases),
        date_of_birth=mention.date_of_birth,
        gender=mention.gender,
        nationality=mention.nationality,
        phones=list(mention.phones),
        emails=list(mention.emails),
        addresses=list(mention.addresses),
        flags=[PROVISIONAL_FLAG],
        owning_force=None,
        updated_at=at,
    )
