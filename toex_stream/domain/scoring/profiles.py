"""Threat profiles: what a threat's risk score counts, and how much, as configuration.

The system is threat-neutral: modern slavery, VAWG, child sexual exploitation,
missing persons or a threat nobody has named yet differ only by a profile, a
YAML file in ``toex_stream/data/profiles/`` (or any directory given to
:func:`load_profiles`). A profile says which events it scores, which features
(:data:`~toex_stream.domain.scoring.feature_names.FEATURES`) count and by how many
log-odds, where the bands start, which band alerts, which facts force
``critical``, and how fast the learned model takes over from the cold-start
weights.

The cold-start score is a logistic model written by hand:
``log-odds = intercept + sum(weight * transform(clip(value, -cap, cap)))``.
Each term is one reason a regional team can read, with a sentence from the
profile's ``text``.

>>> profiles = load_profiles()
>>> msht = profiles["msht"]
>>> msht.version_id
'msht@v1'
>>> msht.band(msht.cold_start_probability({}))
'low'
>>> headdress = {"towns_per_phone_7d": 4, "adverts_30d": 15, "indicator_third_party_control": 2.0,
...              "indicator_newness_touring": 1.5, "intel_evidence": 0.45, "intel_30d": 1, "flag_ocg_member": 1}
>>> msht.band(msht.cold_start_probability(headdress))
'critical'
>>> msht.explain("towns_per_phone_7d", 4)
'A phone linked to this nominal was advertised in 4 towns in 7 days, a touring pattern.'

A typo in a profile is an error that names the file, the place in it, and
the nearest valid name; nothing is silently ignored.
"""

from __future__ import annotations

import difflib
import math
import string
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from toex_stream.domain.contract import Band, ExploitationType, Source
from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.feature_names import FEATURES
from toex_stream.domain.yamlfile import line_of, read_mapping, yaml_message, yaml_path

__all__ = [
    "BAND_ORDER",
    "AppliesWhen",
    "Bands",
    "FeatureWeight",
    "InvalidFeatureValue",
    "Learning",
    "ProfileError",
    "ThreatProfile",
    "load_profile",
    "load_profiles",
]

#: Bands from least to most severe.
BAND_ORDER: tuple[Band, ...] = ("low", "medium", "high", "critical")

Transform = Literal["identity", "log1p", "binary"]
ThreatId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ThreatTag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]

_PROFILE_SUFFIXES = (".yaml", ".yml")
_BUNDLED = ("data", "profiles")


class ProfileError(ToexError):
    """A threat profile is invalid or cannot be read; the message names the file and the place in it."""


class InvalidFeatureValue(ToexError, ValueError):
    """A feature value given to a profile is not a finite number."""


def _known_feature(name: str) -> str:
    if name not in FEATURES:
        nearest = difflib.get_close_matches(name, FEATURES, n=1, cutoff=0.6)
        hint = f"did you mean '{nearest[0]}'?" if nearest else "see toex_stream/domain/scoring/feature_names.py"
        raise ValueError(f"unknown feature '{name}': {hint}")
    return name


FeatureName = Annotated[str, AfterValidator(_known_feature)]


class _Config(BaseModel):
    # strict: '0.5' is not a weight; forbid: a misspelt key is an error, not a silently unused setting.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


def _signed_log1p(value: float) -> float:
    # Evidence can be negative (an E-graded report, independence markers): keep the sign.
    return math.copysign(math.log1p(abs(value)), value)


def _binary(value: float) -> float:
    return 1.0 if value > 0 else 0.0


def _identity(value: float) -> float:
    return value


_TRANSFORMS: dict[str, Callable[[float], float]] = {"identity": _identity, "log1p": _signed_log1p, "binary": _binary}


class FeatureWeight(_Config):
    """How one feature counts towards a threat: its weight, transform, cap and the sentence that explains it."""

    weight: float = Field(description="Log-odds per transformed unit; negative lowers the risk.")
    transform: Transform = "identity"
    cap: float | None = Field(
        default=None, gt=0, description="Clip the raw value to [-cap, cap] before the transform."
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="A format string of {value}: one plain-English sentence, values only, no personal data."
    )

    @field_validator("text")
    @classmethod
    def _renders_with_a_value(cls, text: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            raise ValueError(f"text is not a valid format string ({error}): {text!r}") from None
        others = sorted({name for name in fields if name != "value"})
        if others:
            raise ValueError(f"text may only refer to {{value}}, not {', '.join('{' + n + '}' for n in others)}")
        for sample in (0.0, 1.0, 2.5, -0.5):
            try:
                text.format(value=sample)
            except (ValueError, TypeError, IndexError, KeyError) as error:
                raise ValueError(f"text does not render with value={sample}: {error}") from None
        return text


class Bands(_Config):
    """Lower bounds of each band on the probability scale; ``low`` starts at 0."""

    low: float = 0.0
    medium: float
    high: float
    critical: float

    @model_validator(mode="after")
    def _ascending(self) -> Bands:
        bounds = [getattr(self, band) for band in BAND_ORDER]
        if self.low != 0.0:
            raise ValueError(f"low must be 0.0 (every score needs a band), not {self.low}")
        if any(not (0.0 <= bound < 1.0) for bound in bounds):
            raise ValueError(f"band bounds must lie in [0, 1); got {dict(zip(BAND_ORDER, bounds, strict=True))}")
        if any(lower >= upper for lower, upper in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(
                "band bounds must be strictly ascending low < medium < high < critical; "
                f"got {dict(zip(BAND_ORDER, bounds, strict=True))}"
            )
        return self


class Learning(_Config):
    """How the learned model takes over from the cold-start weights as analysts' labels accumulate."""

    min_labels: int = Field(ge=0, description="Below this many labels the score is the cold-start score alone.")
    full_weight_labels: int = Field(gt=0, description="From this many labels the learned model has full weight.")

    @model_validator(mode="after")
    def _ordered(self) -> Learning:
        if self.full_weight_labels <= self.min_labels:
            raise ValueError(
                f"full_weight_labels ({self.full_weight_labels}) must be greater than min_labels ({self.min_labels})"
            )
        return self

    def learned_share(self, labels: int) -> float:
        """The learned model's share of the blend after ``labels`` labels: 0 below ``min_labels``, then linear to 1.

        >>> learning = Learning(min_labels=20, full_weight_labels=300)
        >>> [learning.learned_share(n) for n in (0, 19, 20, 160, 300, 1000)]
        [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
        """
        if labels < self.min_labels:
            return 0.0
        return min(1.0, (labels - self.min_labels) / (self.full_weight_labels - self.min_labels))


class AppliesWhen(_Config):
    """Which events a profile scores: any event of a listed source, exploitation type or threat tag."""

    exploitation_types: list[ExploitationType] = []
    threat_tags: list[ThreatTag] = []
    sources: list[Source] = []

    @model_validator(mode="after")
    def _not_empty(self) -> AppliesWhen:
        if not (self.exploitation_types or self.threat_tags or self.sources):
            raise ValueError(
                "list at least one of exploitation_types, threat_tags or sources, or the profile never applies"
            )
        return self


class ThreatProfile(_Config):
    """One threat, as configuration: which events it scores, feature weights, bands, and the learning schedule."""

    id: ThreatId = Field(description="The threat id used in scores and alerts.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    version: int = Field(ge=1, description="Bump when weights change: every score carries it.")
    description: Annotated[str, StringConstraints(min_length=1)]
    applies_when: AppliesWhen
    intercept: float = Field(description="Cold-start log-odds of a nominal with no evidence.")
    features: dict[FeatureName, FeatureWeight] = Field(min_length=1)
    bands: Bands
    alert_band: Band
    always_critical: list[FeatureName] = Field(
        default=[], description="0/1 features that force 'critical' when set, whatever the score."
    )
    learning: Learning

    _compiled: tuple[tuple[str, float, float, Callable[[float], float]], ...] = PrivateAttr(default=())
    _tags: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("always_critical")
    @classmethod
    def _critical_rules_are_explained(cls, always_critical: list[str], info: ValidationInfo) -> list[str]:
        # An alert forced to critical lists the rule as its first reason: it needs the profile's sentence.
        features = info.data.get("features")
        if features is None:  # features failed validation: that error is reported already
            return always_critical
        unexplained = [name for name in always_critical if name not in features]
        if unexplained:
            raise ValueError(
                f"always_critical features {unexplained} need an entry under features (a weight and a text), "
                "so that an alert can say why it is critical"
            )
        return always_critical

    def model_post_init(self, context: Any, /) -> None:
        # Scoring runs per event at tens of thousands a second: resolve the transforms once.
        self._compiled = tuple(
            (name, spec.weight, math.inf if spec.cap is None else spec.cap, _TRANSFORMS[spec.transform])
            for name, spec in self.features.items()
        )
        self._tags = frozenset(self.applies_when.threat_tags)
        self._zeros = dict.fromkeys(self.features, 0.0)
        self._by_name = {name: (cap, function) for name, _, cap, function in self._compiled}

    @property
    def version_id(self) -> str:
        """``id@vN``: the profile and the version of its weights, as scores record it."""
        return f"{self.id}@v{self.version}"

    def transform(self, features: Mapping[str, float]) -> dict[str, float]:
        """The profile's features, capped and transformed (a missing feature is 0), in profile order."""
        # Most features of most nominals are 0, which every transform keeps at 0: start from
        # zeros and transform only what is set (a dict copy is far cheaper than a loop).
        transformed = dict(self._zeros)
        by_name = self._by_name
        for name, value in features.items():
            if value and name in by_name:
                if not math.isfinite(value):
                    raise InvalidFeatureValue(f"feature '{name}' is {value}; feature values must be finite numbers")
                cap, function = by_name[name]
                transformed[name] = function(min(max(value, -cap), cap))
        return transformed

    def cold_start_contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the cold-start log-odds: weight times transformed value."""
        transformed = self.transform(features)
        return {name: weight * transformed[name] for name, weight, _, _ in self._compiled}

    def cold_start_log_odds(self, features: Mapping[str, float]) -> float:
        """Intercept plus every feature's contribution."""
        # The hot path of scoring: one pass, no intermediate dicts; the same arithmetic as the contributions.
        log_odds = self.intercept
        for name, weight, cap, function in self._compiled:
            value = features.get(name, 0.0)
            if not math.isfinite(value):
                raise InvalidFeatureValue(f"feature '{name}' is {value}; feature values must be finite numbers")
            log_odds += weight * function(min(max(value, -cap), cap))
        return log_odds

    def cold_start_probability(self, features: Mapping[str, float]) -> float:
        """The cold-start score on the probability scale (the logistic of the log-odds)."""
        return logistic(self.cold_start_log_odds(features))

    def band(self, probability: float) -> Band:
        """The band a probability falls in: the highest whose lower bound it reaches."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"a probability lies in [0, 1], not {probability}")
        bands = self.bands
        if probability >= bands.critical:
            return "critical"
        if probability >= bands.high:
            return "high"
        if probability >= bands.medium:
            return "medium"
        return "low"

    def alerts(self, band: Band) -> bool:
        """Whether a score in ``band`` reaches the profile's ``alert_band``."""
        return BAND_ORDER.index(band) >= BAND_ORDER.index(self.alert_band)

    def critical_rules(self, features: Mapping[str, float]) -> list[str]:
        """The ``always_critical`` features that are set (> 0): any one forces the band to critical."""
        return [name for name in self.always_critical if features.get(name, 0.0) > 0]

    def explain(self, feature: str, value: float) -> str:
        """The profile's sentence for a feature's raw value, as a regional team reads it."""
        spec = self.features.get(feature)
        if spec is None:
            raise ProfileError(f"profile {self.id} has no feature '{feature}'; it has {', '.join(self.features)}")
        return spec.text.format(value=value)

    def applies(self, *, source: str, exploitation_types: Iterable[str], threat_tags: Iterable[str]) -> bool:
        """Whether this profile scores an event of this source, with these exploitation types and threat tags."""
        when = self.applies_when
        return (
            source in when.sources
            or any(kind in when.exploitation_types for kind in exploitation_types)
            or any(tag.strip().lower() in self._tags for tag in threat_tags)
        )


def logistic(log_odds: float) -> float:
    """The probability of ``log_odds`` (1 / (1 + e^-x)), computed without overflow."""
    if log_odds >= 0:
        return 1.0 / (1.0 + math.exp(-log_odds))
    odds = math.exp(log_odds)
    return odds / (1.0 + odds)


# -- loading -------------------------------------------------------------------------------------


def _parse(text: str, name: str) -> ThreatProfile:
    document, root = read_mapping(text, name, ProfileError, "a profile is a YAML mapping of id, name, version, ...")
    try:
        return ThreatProfile.model_validate(document)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False):
            loc = tuple(problem["loc"])
            if problem["type"] == "missing":
                # A missing key has no line: point at the mapping that lacks it, unless that is the whole file.
                line = line_of(root, loc[:-1]) if len(loc) > 1 else None
            else:
                line = line_of(root, loc)
            where = f"{name}:{line}" if line else name
            problems.append(f"{where}: {yaml_path(loc)}: {yaml_message(problem)}")
        raise ProfileError(f"invalid threat profile {name}:\n  " + "\n  ".join(problems)) from None


def load_profile(path: Path) -> ThreatProfile:
    """Read and validate one profile file.

    Raises :class:`ProfileError` naming the file, the line and the YAML path of each problem.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ProfileError(f"cannot read threat profile {path}: {error.strerror or error}") from None
    return _parse(text, Path(path).name)


def load_profiles(directory: Path | None = None) -> dict[str, ThreatProfile]:
    """Every profile (``*.yaml``, ``*.yml``) in ``directory``, by id; by default the bundled ones.

    Adding a threat is adding a file here. Two files with the same id are an error.
    """
    folder: Traversable = resources.files("toex_stream").joinpath(*_BUNDLED) if directory is None else Path(directory)
    if not folder.is_dir():
        raise ProfileError(f"threat profile directory {folder} does not exist or is not a directory")
    profiles: dict[str, ThreatProfile] = {}
    origin: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.is_file() or not entry.name.endswith(_PROFILE_SUFFIXES):
            continue
        profile = _parse(entry.read_text(encoding="utf-8"), entry.name)
        if profile.id in profiles:
            raise ProfileError(
                f"{entry.name}: id '{profile.id}' is already used by {origin[profile.id]}; threat ids must be unique"
            )
        profiles[profile.id] = profile
        origin[profile.id] = entry.name
    if not profiles:
        raise ProfileError(f"no threat profiles (*.yaml) in {folder}")
    return profiles
