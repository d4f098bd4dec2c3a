"""toex-stream: referrals, adverts and intelligence as events, matched, scored and alerted on.

The layers, each a package; imports point down only (checked by ``lint-imports``)::

    tools        simulate, demo                         may import anything below
    entry        the CLI, the partner web app           (and ``streams/``, the Faust worker)
    application  use cases: intake, replay, nominal import, the alert lifecycle
    adapters     Kafka, SQL and its migrations, Slack/Teams, settings, the local broker
    ports        the protocols adapters implement (the nominal store)
    domain       the contract and the pipeline: enrich, match, score, route; pure
"""

__version__ = "0.1.0"
