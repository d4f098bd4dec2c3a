"""Alerting: routing alerts to the regional teams' channels, grouping, silences and inhibition."""
