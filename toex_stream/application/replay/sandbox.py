"""What a replay runs with: profiles, routes, the risk models and the matcher, built without touching the live system.

Everything is read, nothing written: the worker's checkpoint and match model
files are opened read-only, the training topic is read outside any group.

``--model`` names the risk models:

- ``current``: the live worker's checkpoint (``models/checkpoint.pkl`` in the
  data folder) as it is now, or the cold-start models when there is none;
- ``cold``: the cold-start models (profile weights only, nothing learnt);
- ``N`` (a number): the models as learnt from the first N examples on
  ``toex.training``. Every worker learns that topic in order, so this is the
  model any worker ran after learning N outcomes;
- ``THREAT@vK/lN`` (a model version as scores carry it, e.g. ``msht@v1/l25``):
  learnt from ``toex.training`` up to the example that brought that threat's
  model to N labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from toex_stream.domain import contract
from toex_stream.domain.alerting.routes import RoutingConfig
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.errors import ToexError
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.model_files import live_model, trained_model
from toex_stream.domain.scoring.checkpoint import CHECKPOINT_FILE, restore_models
from toex_stream.domain.scoring.profiles import ThreatProfile, load_profile, load_profiles
from toex_stream.domain.scoring.scorer import Scorer

_VERSION = re.compile(r"^(?P<threat>[a-z][a-z0-9_]{0,31})@v(?P<profile>[0-9]+)/l(?P<labels>[0-9]+)$")


class ModelChoiceError(ToexError):
    """``--model`` names no model that can be built."""


def replay_profiles(choice: Path | None, configured: Path | None) -> dict[str, ThreatProfile]:
    """The profiles to replay with: a directory of them, or one file replacing its threat among the configured ones."""
    if choice is None:
        return load_profiles(configured)
    if choice.is_dir():
        return load_profiles(choice)
    profile = load_profile(choice)
    return load_profiles(configured) | {profile.id: profile}


def replay_routes(choice: Path | None, configured: Path | None) -> RoutingConfig:
    """The routes to replay with: the file given, else the configured routes, else the bundled ones."""
    return load_routes(choice if choice is not None else configured)


def needs_training_topic(model: str) -> bool:
    """Whether ``--model`` is built by learning from ``toex.training``."""
    return model.isdigit() or _VERSION.match(model) is not None


def replay_scorer(
    profiles: dict[str, ThreatProfile],
    model: str,
    data_dir: Path,
    training: Iterable[contract.TrainingExample] = (),
) -> Scorer:
    """The scorer for ``--model`` (see the module's documentation); ``training`` is toex.training in order."""
    scorer = Scorer(profiles)
    if model == "cold":
        return scorer
    if model == "current":
        restore_models(scorer, data_dir / CHECKPOINT_FILE)
        return scorer
    if model.isdigit():
        wanted = int(model)
        learnt = 0
        for example in training:
            if learnt == wanted:
                break
            scorer.learn(example)
            learnt += 1
        if learnt < wanted:
            raise ModelChoiceError(f"--model {model}: toex.training holds only {learnt} examples")
        return scorer
    version = _VERSION.match(model)
    if version is None:
        raise ModelChoiceError(
            f"--model {model!r}: write current, cold, a number of training examples (e.g. 120), "
            "or a model version as scores carry it (e.g. msht@v1/l25)"
        )
    threat = version["threat"]
    if threat not in scorer.models:
        raise ModelChoiceError(f"--model {model}: no profile '{threat}' among {', '.join(scorer.models)}")
    target = scorer.models[threat]
    if target.version == model:
        return scorer
    if target.profile.version_id != f"{threat}@v{version['profile']}":
        raise ModelChoiceError(f"--model {model}: the {threat} profile replayed is {target.profile.version_id}")
    for example in training:
        scorer.learn(example)
        if target.version == model:
            return scorer
    raise ModelChoiceError(f"--model {model}: toex.training never brings {threat} to {version['labels']} labels "
                           f"(it reaches {target.version})")


def replay_matcher(data_dir: Path) -> tuple[Matcher, bool]:
    """A fresh matcher with the live worker's match model; True when u must still be estimated on load.

    The worker writes the model it matches with once it has loaded the
    nominals; without that file, the trained model of the data folder; without
    either, the default model, whose u the caller estimates from the nominals
    loaded before the range, as a worker started then would have.
    """
    for model in (live_model(data_dir), trained_model(data_dir)):
        if model is not None:
            return Matcher(model=model), False
    return Matcher(), True
