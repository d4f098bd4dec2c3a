"""The domain: the event contract and what happens to an event, pure.

No SQL, Kafka, Faust, Slack, aiohttp or settings here (an import-linter
contract in ``pyproject.toml`` checks it); time comes from the events, and the
few wall-clock readings go through :mod:`toex_stream.domain.clock`.
:mod:`~toex_stream.domain.pipeline` is where an event's way is written down.
"""
