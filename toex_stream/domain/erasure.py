"""Erasure of one person: how the erasure register recognises them again in events that cannot be deleted.

A person erased with ``toex-stream erase`` is deleted from the database and the
compacted topics at once, but the topics that delete by age (the inputs, the
derived events, the dead letters) keep their old events until retention
removes them, and partners may go on referring them. The erasure register keeps
them out meanwhile: it holds, per erased person, keyed hashes (HMAC-SHA256)
of their normalised identifiers, never the identifiers, and enrich, matching
and replay drop every mention whose identifiers hash to one of them.

The identifiers are what matching itself trusts (:mod:`~toex_stream.domain.matching.records`):
each phone (E.164) and email as normalised, and each way of writing the name
with the date of birth. A name alone is not one: many people share a name.

The check is a set lookup per identifier, and nothing at all while the
register is empty (:data:`NO_ONE`).

>>> import datetime as dt
>>> nominal = contract.Nominal(schema_version=1, nominal_id="N-1", given_name="Réka", family_name="Kovács",
...     date_of_birth=dt.date(2001, 3, 9), phones=["07700 900777"], updated_at=dt.datetime(2026, 1, 1,
...     tzinfo=dt.timezone.utc))
>>> sorted(identifiers_of(record_from_nominal(nominal)))
['name-dob:reka|kovacs|2001-03-09', 'phone:+447700900777']
>>> erased = ErasedPeople(b"k" * 32, hashes_of_nominal(b"k" * 32, nominal), frozenset({"N-1"}))
>>> same_phone = contract.Mention(mention_id="referral:P:R#0", role="unknown", phones=["+447700900777"])
>>> other = contract.Mention(mention_id="referral:P:R#1", role="unknown", given_name="Reka", family_name="Kovacs")
>>> erased.is_erased(same_phone, dt.date(2026, 12, 3)), erased.is_erased(other, dt.date(2026, 12, 3))
(True, False)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from toex_stream.domain import contract
from toex_stream.domain.errors import ToexError
from toex_stream.domain.matching.records import MatchRecord, record_from_mention, record_from_nominal

__all__ = [
    "NO_ONE", "ErasedPeople", "ErasureError", "hashes_of_nominal", "identifiers_of", "keyed_hash", "withhold",
]


class ErasureError(ToexError):
    """An erasure that cannot be done as asked (no such nominal); the message says what to do."""


def identifiers_of(record: MatchRecord) -> frozenset[str]:
    """The normalised identifiers that recognise a person: phones, emails, and each name variant with the birth date."""
    found = {f"phone:{phone}" for phone in record.phones if phone}
    found |= {f"email:{email}" for email in record.emails if email}
    if record.dob is not None:
        found |= {f"name-dob:{name.given_text}|{name.family_text}|{record.dob.isoformat()}"
                  for name in record.names if name.given_text or name.family_text}
    return frozenset(found)


def keyed_hash(key: bytes, identifier: str) -> str:
    """HMAC-SHA256 of one normalised identifier, hex: without the key, trying every phone number finds nothing."""
    return hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()


def hashes_of_nominal(key: bytes, nominal: contract.Nominal) -> frozenset[str]:
    """The keyed hashes the register keeps of a nominal about to be erased."""
    return frozenset(keyed_hash(key, identifier) for identifier in identifiers_of(record_from_nominal(nominal)))


@dataclass(frozen=True)
class ErasedPeople:
    """The erasure register as the pipeline reads it: the key, the hashes of the erased, and their nominal ids."""

    key: bytes = b""
    hashes: frozenset[str] = frozenset()
    nominal_ids: frozenset[str] = frozenset()

    def is_erased(self, mention: contract.Mention, on: dt.date) -> bool:
        """Whether any identifier of ``mention`` (as of the event's date) hashes to an erased person's."""
        if not self.hashes:
            return False
        return any(keyed_hash(self.key, identifier) in self.hashes
                   for identifier in identifiers_of(record_from_mention(mention, on)))


# The register with nobody in it: checks cost nothing.
NO_ONE = ErasedPeople()


def withhold(observation: contract.Observation, erased: ErasedPeople) -> tuple[contract.Observation, list[str]]:
    """``observation`` without the mentions of erased people, and the ids of the mentions withheld.

    The rest of the event (its other people, its places) goes on: only the
    erased person is kept out.
    """
    if not erased.hashes or not observation.mentions:
        return observation, []
    on = observation.occurred_at.date()
    kept = [mention for mention in observation.mentions if not erased.is_erased(mention, on)]
    if len(kept) == len(observation.mentions):
        return observation, []
    withheld = [m.mention_id for m in observation.mentions if m not in kept]
    return observation.model_copy(update={"mentions": kept}), withheld
