"""The port through which intake hands a referral to Kafka, and its confluent-kafka adapter."""

from __future__ import annotations

import asyncio

from confluent_kafka import KafkaException

from toex_stream.adapters.kafka_access import KafkaTarget
from toex_stream.adapters.kafka_io import durable_producer, produce_and_wait
from toex_stream.domain.contract import TOPIC_REFERRALS, Referral, event_key
from toex_stream.domain.errors import ToexError
from toex_stream.domain.intake.errors import PublishFailed

# Seconds librdkafka may try to deliver before it gives up: the partner waits this long at most.
DEFAULT_PUBLISH_TIMEOUT_S = 10.0


class KafkaReferralPublisher:
    """Publishes to ``toex.referrals`` with ``acks=all`` and idempotence, keyed ``partner_id:referral_id``.

    ``message.timeout.ms`` bounds delivery and the flush waits a little longer,
    so every publish ends with the broker's answer, acknowledged or failed, and
    never with a message still queued that could land after the partner was
    told 503. (A timeout can still be ambiguous on the broker's side, as with
    any producer: a resubmission then puts the same key on the topic twice,
    which the pipeline treats as one referral.)
    """

    def __init__(self, kafka: KafkaTarget, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._producer = durable_producer(kafka, **{"message.timeout.ms": int(timeout_s * 1000),
                                                        "linger.ms": 0})

    async def publish(self, referral: Referral) -> None:
        try:
            # librdkafka's flush blocks: off the event loop, so other partners are served meanwhile.
            await asyncio.to_thread(produce_and_wait, self._producer, TOPIC_REFERRALS,
                                    event_key(referral).encode(), referral.model_dump_json().encode(),
                                    self._timeout_s + 5.0)
        except (ToexError, KafkaException, BufferError) as exc:
            raise PublishFailed(str(exc)) from None
