"""toex-stream: the core (domain code that knows nothing of Faust)."""

__version__ = "0.1.0"
