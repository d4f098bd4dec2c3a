"""``python -m streams``: create the topics, then run the Faust worker until stopped."""

from __future__ import annotations

import faust

from streams import topics
from streams.app import build_app
from toex_stream.kafka_io import ensure_topics
from toex_stream.settings import load_settings


def main() -> None:
    settings = load_settings()
    ensure_topics(settings.kafka_bootstrap, topics.ALL)
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower())
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
