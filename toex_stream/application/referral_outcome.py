"""Partner intake: the authenticated API and form through which partners refer people.

The core (validation and NRM rules, tokens, rate limit, receipts, submission)
knows nothing of Faust; :mod:`toex_stream.entry.web` puts it on aiohttp, the
worker mounts those routes on its web server, and ``toex-stream intake serve``
runs them alone. Once a referral's subjects are matched, the worker reports its
outcome back through :func:`record_referral_outcome`.
"""

from __future__ import annotations

from collections.abc import Sequence

from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.domain.contract import TOPIC_REFERRALS, MatchResult, Observation
from toex_stream.domain.enrich import revision_of


def record_referral_outcome(store: IntakeStore, observation: Observation, results: list[MatchResult]) -> bool:
    """Mark a referral's receipt processed, matched when any subject matched a known nominal.

    Other inputs, and referrals sent without the intake (``toex-stream submit``),
    change nothing; returns whether a receipt was updated.
    """
    return record_referral_outcomes(store, [(observation, results)]) == 1


def record_referral_outcomes(store: IntakeStore, resolved: Sequence[tuple[Observation, list[MatchResult]]]) -> int:
    """:func:`record_referral_outcome` for a batch, in one transaction; how many receipts were updated."""
    outcomes = []
    for observation, results in resolved:
        if observation.event_ref.topic != TOPIC_REFERRALS:
            continue
        partner_id, _, referral_id = observation.event_ref.key.partition(":")
        outcomes.append((partner_id, referral_id, any(r.decision == "match" and not r.provisional for r in results),
                         revision_of(observation)))
    return store.record_outcomes(outcomes) if outcomes else 0
