"""The root of every error toex-stream raises on purpose."""


class ToexError(Exception):
    """Base of all toex-stream errors; the message says what was wrong and how to fix it."""
