"""The intake port: how a submitted referral reaches Kafka (:mod:`toex_stream.adapters.kafka_publisher`)."""

from __future__ import annotations

from typing import Protocol

from toex_stream.domain.contract import Referral

__all__ = ["ReferralPublisher"]


class ReferralPublisher(Protocol):
    async def publish(self, referral: Referral) -> None:
        """Return once the broker has acknowledged the referral; raise :class:`PublishFailed` otherwise."""
