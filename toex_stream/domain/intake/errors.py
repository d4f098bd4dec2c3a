"""Errors of the partner intake."""

from toex_stream.domain.errors import ToexError


class IntakeError(ToexError):
    """A partner or receipt operation that cannot be done; the message says why and what to do."""


class PublishFailed(IntakeError):
    """Kafka did not acknowledge a referral: nothing was stored, and the partner may try again later."""
