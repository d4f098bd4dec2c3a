"""Alert rules: routes and receivers, silences, grouping, the alert decision and its messages."""
