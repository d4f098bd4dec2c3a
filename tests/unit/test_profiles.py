"""Threat profiles: the bundled ones load and score the hand-checked cases; mistakes in a profile are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.feature_names import FEATURES
from toex_stream.domain.scoring.profiles import (
    InvalidFeatureValue,
    ProfileError,
    ThreatProfile,
    load_profile,
    load_profiles,
)

# A small, valid profile for a threat the code has never heard of.
FRAUD_PROFILE = """\
id: romance_fraud
name: Romance fraud with exploitation
version: 2
description: People coerced into moving money for others.
applies_when:
  threat_tags: [romance_fraud]
intercept: -3.0
features:
  linked_nominals:
    weight: 0.5
    transform: log1p
    cap: 30
    text: "{value:.0f} other people share a phone or email with this nominal."
  intel_evidence:
    weight: 0.8
    text: "Graded intelligence adds evidence of {value:+.2f}."
  referral_immediate_risk:
    weight: 2.0
    transform: binary
    text: "A referral says someone is at immediate risk."
bands:
  low: 0.0
  medium: 0.3
  high: 0.6
  critical: 0.9
alert_band: medium
always_critical: [referral_immediate_risk]
learning:
  min_labels: 10
  full_weight_labels: 100
"""


def write(tmp_path: Path, text: str, name: str = "romance_fraud.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def profiles() -> dict[str, ThreatProfile]:
    return load_profiles()


def band_of(profile: ThreatProfile, features: dict[str, float]) -> str:
    return profile.band(profile.cold_start_probability(features))


# -- the bundled profiles -----------------------------------------------------------------------


def test_the_four_bundled_profiles_load(profiles: dict[str, ThreatProfile]) -> None:
    assert set(profiles) == {"msht", "vawg", "cse", "missing"}
    for threat, profile in profiles.items():
        assert profile.id == threat
        assert profile.version_id == f"{threat}@v{profile.version}"
        assert set(profile.features) <= set(FEATURES)
        # A child subject or an immediate-risk referral is critical under every threat (issue 5).
        assert {"referral_child", "referral_immediate_risk"} <= set(profile.always_critical)


def test_every_reason_is_one_readable_sentence(profiles: dict[str, ThreatProfile]) -> None:
    for profile in profiles.values():
        for feature in profile.features:
            sentence = profile.explain(feature, 3.0)
            assert (sentence[0].isupper() or sentence[0].isdigit()) and sentence.endswith("."), (profile.id, sentence)
            assert ". " not in sentence, (profile.id, sentence)


# -- msht, by hand (the numbers are in the comment at the top of msht.yaml) ---------------------

HEADDRESS_CONTROLLER = {
    "towns_per_phone_7d": 4,  # a controller phone in 4 towns in a week
    "adverts_30d": 15,
    "adverts_7d": 4,
    "indicator_third_party_control": 2.0,
    "indicator_newness_touring": 1.5,
    "intel_evidence": 0.45,  # one B2 report naming them (0.6 x 0.75, as toex_stream.domain.scoring.state weighs it)
    "intel_30d": 1,
    "intel_7d": 1,
    "suspect_mentions_30d": 0,
    "flag_ocg_member": 1,
}


def test_msht_no_evidence_is_low(profiles: dict[str, ThreatProfile]) -> None:
    assert band_of(profiles["msht"], {}) == "low"


def test_msht_one_advert_with_one_weak_indicator_stays_low(profiles: dict[str, ThreatProfile]) -> None:
    one_advert = {"adverts_7d": 1, "adverts_30d": 1, "towns_per_phone_7d": 1, "indicator_newness_touring": 0.5}
    assert band_of(profiles["msht"], one_advert) == "low"


def test_msht_headdress_pattern_alerts(profiles: dict[str, ThreatProfile]) -> None:
    msht = profiles["msht"]
    band = band_of(msht, HEADDRESS_CONTROLLER)
    assert band in {"high", "critical"}
    assert msht.alerts(band)
    top = sorted(msht.cold_start_contributions(HEADDRESS_CONTROLLER).items(), key=lambda kv: -kv[1])[:3]
    assert [name for name, _ in top] == ["towns_per_phone_7d", "flag_ocg_member", "indicator_third_party_control"]


def test_msht_independent_worker_stays_low(profiles: dict[str, ThreatProfile]) -> None:
    independent = {
        "adverts_30d": 8, "adverts_7d": 3, "towns_per_phone_7d": 1,
        "indicator_independence": -2.0, "indicator_pricing": 1.0,
    }
    msht = profiles["msht"]
    assert band_of(msht, independent) == "low"
    assert msht.cold_start_contributions(independent)["indicator_independence"] < 0


def test_an_e_graded_report_alone_raises_nothing(profiles: dict[str, ThreatProfile]) -> None:
    e_graded = {"intel_evidence": -1.0, "intel_30d": 1, "intel_7d": 1}  # an E assessment counts -1
    for profile in profiles.values():
        assert band_of(profile, e_graded) == "low"
        assert profile.cold_start_log_odds(e_graded) <= profile.intercept


def test_a_child_or_immediate_risk_referral_forces_critical(profiles: dict[str, ThreatProfile]) -> None:
    for profile in profiles.values():
        assert profile.critical_rules({"referral_child": 1}) == ["referral_child"]
        assert profile.critical_rules({"referral_immediate_risk": 1, "adverts_30d": 3}) == ["referral_immediate_risk"]
        assert profile.critical_rules(HEADDRESS_CONTROLLER) == []


# -- the other threats, by hand ------------------------------------------------------------------


def test_cse_weighs_youth_language_victim_mentions_and_a_child_referral(profiles: dict[str, ThreatProfile]) -> None:
    cse = profiles["cse"]
    assert band_of(cse, {"adverts_30d": 1}) == "low"
    youth = {"indicator_youth_language": 3.0, "victim_mentions_30d": 2, "adverts_30d": 5}
    assert band_of(cse, youth) == "medium"
    assert band_of(cse, youth | {"indicator_third_party_control": 2.0}) == "high"
    assert band_of(cse, {"referral_child": 1, "referral_sexual": 1}) in {"medium", "high", "critical"}


def test_missing_weighs_the_flag_and_recent_mentions(profiles: dict[str, ThreatProfile]) -> None:
    missing = profiles["missing"]
    assert band_of(missing, {"flag_missing_person": 1}) == "low"
    assert band_of(missing, {"flag_missing_person": 1, "adverts_7d": 1}) == "medium"
    assert band_of(missing, {"flag_missing_person": 1, "adverts_7d": 1, "victim_mentions_30d": 1}) == "high"
    assert band_of(missing, {"adverts_7d": 3, "victim_mentions_30d": 3}) == "low"


def test_vawg_weighs_domestic_abuse_suspects_and_visor(profiles: dict[str, ThreatProfile]) -> None:
    vawg = profiles["vawg"]
    once = {"referral_domestic_abuse": 1, "suspect_mentions_30d": 1}
    repeat = {"referral_domestic_abuse": 3, "suspect_mentions_30d": 3}
    assert band_of(vawg, once) == "low"
    assert band_of(vawg, once | {"flag_visor_registered": 1}) == "medium"
    assert band_of(vawg, repeat | {"flag_visor_registered": 1}) == "critical"


def test_the_headdress_controller_alerts_as_msht_only(profiles: dict[str, ThreatProfile]) -> None:
    bands = {threat: band_of(profile, HEADDRESS_CONTROLLER) for threat, profile in profiles.items()}
    assert bands == {"msht": "critical", "vawg": "low", "cse": "low", "missing": "low"}


def test_which_events_each_profile_scores(profiles: dict[str, ThreatProfile]) -> None:
    def scored_by(source: str, kinds: list[str] = [], tags: list[str] = []) -> set[str]:  # noqa: B006 - only read
        return {t for t, p in profiles.items() if p.applies(source=source, exploitation_types=kinds, threat_tags=tags)}

    assert scored_by("advert") == {"msht", "cse", "missing"}
    assert scored_by("referral", ["domestic_abuse"]) == {"vawg", "missing"}
    assert scored_by("referral", ["labour"]) == {"msht", "missing"}
    assert scored_by("intel", [], ["MSHT", "sexual_exploitation"]) == {"msht", "missing"}


# -- transforms ---------------------------------------------------------------------------------


def test_transforms_cap_and_fill_missing_features_with_zero(profiles: dict[str, ThreatProfile]) -> None:
    msht = profiles["msht"]
    transformed = msht.transform({"towns_per_phone_7d": 40, "flag_ocg_member": 1, "adverts_30d": 0})
    assert transformed["towns_per_phone_7d"] == 6  # capped
    assert transformed["flag_ocg_member"] == 1.0
    assert transformed["indicator_pricing"] == 0.0  # missing
    assert set(transformed) == set(msht.features)
    negative = msht.transform({"indicator_independence": -9.0, "intel_evidence": -0.5})
    assert negative["indicator_independence"] == -5.0  # capped on both sides
    assert negative["intel_evidence"] == -0.5
    with pytest.raises(InvalidFeatureValue, match="feature 'adverts_30d' is nan"):
        msht.cold_start_log_odds({"adverts_30d": float("nan")})
    contributions = msht.cold_start_contributions(HEADDRESS_CONTROLLER)
    assert msht.cold_start_log_odds(HEADDRESS_CONTROLLER) == pytest.approx(msht.intercept + sum(contributions.values()))


# -- mistakes in a profile ----------------------------------------------------------------------


def test_an_unknown_feature_is_named_with_the_nearest_valid_one(tmp_path: Path) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace("  linked_nominals:", "  linked_nominal:"))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "romance_fraud.yaml:9: features.linked_nominal:" in message
    assert "unknown feature 'linked_nominal'" in message
    assert "did you mean 'linked_nominals'?" in message
    assert isinstance(caught.value, ToexError)


def test_an_unknown_always_critical_feature_fails(tmp_path: Path) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace("[referral_immediate_risk]", "[referal_child]"))
    expected = r"always_critical\[0\]: unknown feature 'referal_child': did you mean 'referral_child'"
    with pytest.raises(ProfileError, match=expected):
        load_profile(path)


def test_an_always_critical_rule_needs_a_sentence(tmp_path: Path) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace("[referral_immediate_risk]", "[referral_child]"))
    with pytest.raises(ProfileError, match=(r"romance_fraud.yaml:\d+: always_critical: always_critical features "
                                            r"\['referral_child'\] need an entry under features")):
        load_profile(path)


def test_bands_that_do_not_ascend_fail(tmp_path: Path) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace("  high: 0.6", "  high: 0.25"))
    with pytest.raises(ProfileError, match=r"romance_fraud.yaml:\d+: bands: band bounds must be strictly ascending"):
        load_profile(path)


def test_a_band_bound_of_one_fails(tmp_path: Path) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace("  critical: 0.9", "  critical: 1.0"))
    with pytest.raises(ProfileError, match=r"bands: band bounds must lie in \[0, 1\)"):
        load_profile(path)


@pytest.mark.parametrize(
    ("typo", "where"),
    [
        (("alert_band:", "alert_bnad:"), "alert_bnad"),
        (("    weight: 0.8", "    wieght: 0.8"), "features.intel_evidence.wieght"),
        (("  min_labels: 10", "  min_label: 10"), "learning.min_label"),
    ],
)
def test_an_unknown_key_is_an_error_not_ignored(tmp_path: Path, typo: tuple[str, str], where: str) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace(*typo, 1))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert f"{where}: unknown key" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("alert_band: medium", "alert_band: severe"), "alert_band: Input should be 'low', 'medium', 'high' or"),
        (("transform: log1p", "transform: sqrt"), "features.linked_nominals.transform"),
        (("{value:+.2f}", "{value} for {name}"), "text may only refer to {value}, not {name}"),
        (("{value:.0f} other", "{value:d} other"), "text does not render with value=0.0"),
        (("weight: 0.5", "weight: '0.5'"), "features.linked_nominals.weight: Input should be a valid number"),
        (("id: romance_fraud", "id: Romance-Fraud"), "id: String should match pattern"),
        (("  full_weight_labels: 100", "  full_weight_labels: 5"), "full_weight_labels (5) must be greater"),
        (("  threat_tags: [romance_fraud]", "  threat_tags: []"), "list at least one of"),
        (("  intel_evidence:", "  linked_nominals:"), "key 'linked_nominals' appears twice"),
    ],
)
def test_other_mistakes_are_caught_and_say_where(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, FRAUD_PROFILE.replace(*change, 1))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert expected in str(caught.value)
    assert "romance_fraud.yaml" in str(caught.value)


def test_two_profiles_with_one_id_fail(tmp_path: Path) -> None:
    write(tmp_path, FRAUD_PROFILE, "a.yaml")
    write(tmp_path, FRAUD_PROFILE, "b.yaml")
    with pytest.raises(ProfileError, match="b.yaml: id 'romance_fraud' is already used by a.yaml"):
        load_profiles(tmp_path)


# -- a new threat is a file ---------------------------------------------------------------------


def test_a_new_threat_is_added_by_writing_a_profile(tmp_path: Path) -> None:
    write(tmp_path, FRAUD_PROFILE)
    (tmp_path / "README.txt").write_text("not a profile", encoding="utf-8")

    profiles = load_profiles(tmp_path)

    fraud = profiles["romance_fraud"]
    assert list(profiles) == ["romance_fraud"]
    assert fraud.version_id == "romance_fraud@v2"
    assert fraud.applies(source="intel", exploitation_types=[], threat_tags=["romance_fraud"])
    assert not fraud.applies(source="advert", exploitation_types=["sexual"], threat_tags=[])
    assert fraud.band(fraud.cold_start_probability({})) == "low"
    linked = {"linked_nominals": 12, "intel_evidence": 1.5}
    assert fraud.band(fraud.cold_start_probability(linked)) == "medium"
    assert fraud.alerts("medium") and not fraud.alerts("low")
    assert fraud.explain("linked_nominals", 12) == "12 other people share a phone or email with this nominal."
    assert fraud.learning.learned_share(55) == pytest.approx(0.5)
