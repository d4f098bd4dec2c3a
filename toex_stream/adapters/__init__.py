"""Adapters: where the domain meets Kafka, SQL (``sql/``, with its migrations), Slack and Teams, the environment.

They implement the ports (:mod:`toex_stream.ports`) and the protocols the use
cases declare; the composition roots (``streams/__main__.py``, the CLI) build them.
"""
