"""The features a nominal's risk is scored on: names, and what each measures.

Threat profiles (YAML) refer to these names; the feature state computes them.
Counts are over the event time of the stream, not the wall clock, so a replay
computes the same values.
"""

from __future__ import annotations

INDICATOR_CATEGORIES: tuple[str, ...] = (
    "third_party_control",
    "restricted_movement",
    "newness_touring",
    "youth_language",
    "obscured_contact",
    "pricing",
    "independence",  # markers of independent work: they lower the risk
)

REFERRAL_TYPES: tuple[str, ...] = (
    "labour", "sexual", "criminal", "domestic_servitude", "organ_harvesting", "domestic_abuse", "other", "unknown",
)

FEATURES: dict[str, str] = {
    "adverts_7d": "adverts linked to the nominal in the last 7 days",
    "adverts_30d": "adverts linked to the nominal in the last 30 days",
    "referrals_7d": "partner referrals naming the nominal in the last 7 days",
    "referrals_30d": "partner referrals naming the nominal in the last 30 days",
    "intel_7d": "intelligence reports naming the nominal in the last 7 days",
    "intel_30d": "intelligence reports naming the nominal in the last 30 days",
    "towns_per_phone_7d": "most distinct towns one of the nominal's phones was advertised in over 7 days (touring)",
    "linked_nominals": "other nominals sharing a phone or email with the nominal",
    "intel_evidence": "intelligence weighed by its 3x5x2 grading (an E assessment counts against)",
    "flag_visor_registered": "1 if the nominal is ViSOR registered",
    "flag_missing_person": "1 if the nominal is a missing person",
    "flag_known_victim": "1 if the nominal is a known victim",
    "flag_ocg_member": "1 if the nominal is an organised crime group member",
    "referral_immediate_risk": "1 if a referral in the last 30 days says immediate risk",
    "referral_child": "1 if a referral in the last 30 days concerns a child",
    "suspect_mentions_30d": "mentions of the nominal as a suspect in the last 30 days",
    "victim_mentions_30d": "mentions of the nominal as a potential victim in the last 30 days",
    **{f"indicator_{c}": f"advert indicator weight in the '{c}' category over 30 days" for c in INDICATOR_CATEGORIES},
    **{f"referral_{t}": f"referrals of '{t}' exploitation in the last 30 days" for t in REFERRAL_TYPES},
}
