"""Use cases: partner intake, replay, nominal import and the alert lifecycle, over the domain and the ports."""
