"""The stream agents. Each decodes, calls the core, and sends; none holds domain logic."""

from __future__ import annotations

import logging

import faust

from streams import topics
from toex_stream.contract import INPUT_TOPICS, DeadLetter
from toex_stream.enrich import enrich

log = logging.getLogger(__name__)


def register(app: faust.App) -> None:
    """Declare the topics and agents on ``app``."""
    inputs = app.topic(*INPUT_TOPICS, key_serializer="raw", value_serializer="raw")
    observations = app.topic(topics.OBSERVATIONS.name, key_serializer="raw", value_serializer="raw")
    deadletter = app.topic(topics.DEADLETTER.name, key_serializer="raw", value_serializer="raw")

    # Concurrency 1: with more, Faust can commit an offset past an unfinished
    # event (faust-streaming #606), and an event must never vanish.
    @app.agent(inputs, name="enrich", concurrency=1)
    async def enrich_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            outcome = enrich(
                message.topic, message.key, message.value, partition=message.partition, offset=message.offset
            )
            if isinstance(outcome, DeadLetter):
                # Where and why only: the value itself is personal data and stays on the topic.
                log.warning(
                    "dead letter topic=%s partition=%d offset=%d kind=%s",
                    message.topic, message.partition, message.offset, outcome.kind,
                )
                await deadletter.send(key=message.key, value=outcome.model_dump_json().encode())
            else:
                await observations.send(
                    key=outcome.observation_id.encode(), value=outcome.model_dump_json().encode()
                )
