"""Situations: groups of linked nominals, the unit an alert is about (issue 16)."""
