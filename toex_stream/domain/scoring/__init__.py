"""Risk scoring: features per nominal, advert indicators, threat profiles, the online model."""
