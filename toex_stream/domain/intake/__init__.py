"""Partner intake's rules: the submission API model, the NRM duty-to-notify rules, rate limits, OpenAPI."""
