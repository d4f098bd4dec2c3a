"""Alert rules: routes and receivers, silences and inhibition, grouping, the alert decision and its messages."""
