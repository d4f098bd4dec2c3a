"""The Faust app's broker credentials, from the same :class:`KafkaAccess` every other client uses.

Faust builds its own aiokafka consumers and producer from ``broker_credentials``
(``faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth``), so the
worker's Faust clients and its plain aiokafka followers
(:meth:`KafkaAccess.aiokafka_config`) authenticate alike.
"""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from toex_stream.adapters.kafka_access import KafkaAccess


def broker_credentials(kafka: KafkaAccess) -> CredentialsT | None:
    """SASL (over TLS for SASL_SSL) or TLS credentials for ``faust.App(broker_credentials=...)``; None for PLAINTEXT.

    >>> broker_credentials(KafkaAccess("127.0.0.1:9092")) is None
    True
    """
    context = kafka.ssl_context()
    if kafka.uses_sasl:
        assert kafka.sasl_password is not None, "KafkaAccess checks it"
        # Faust's repr of these names the user, never the password.
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            ssl_context=context,  # None for SASL_PLAINTEXT: Faust then says SASL_PLAINTEXT
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
