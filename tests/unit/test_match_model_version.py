"""A match decision names the model that made it, however the model came to change.

The worker's nominals follower estimates u on the model itself
(``matcher.model.estimate_u(...)``), not through the matcher: the version the
match results carry must follow, or the worker files its decisions under the
default model's version and ``replay --compare live`` blames "model" for every
difference.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from toex_stream.domain import contract
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.model import FellegiSunter, MatchModelError
from toex_stream.domain.matching.model_files import TRAINED_MODEL_FILE, trained_model, write_model
from toex_stream.domain.matching.records import record_from_nominal
from toex_stream.domain.matching.resolve import resolve_observation
from toex_stream.tools.simulate import simulate

AT = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def known_nominals() -> list[contract.Nominal]:
    """Enough invented nominals (estimate_u needs 30) with realistic names, dates and phones."""
    return [contract.Nominal(
        schema_version=1, nominal_id=r.record_id, given_name=r.person.given_name, family_name=r.person.family_name,
        date_of_birth=r.person.date_of_birth, gender=r.person.gender, nationality=r.person.nationality,
        phones=list(r.person.phones), updated_at=AT,
    ) for r in simulate("mixed", 5000, seed=3).nominals]


def observation(n: int) -> contract.Observation:
    return contract.Observation(
        schema_version=1, observation_id=f"toex.referrals:p:{n}", source="referral",
        event_ref=contract.EventRef(topic="toex.referrals", key=f"p:{n}"), partition=0, offset=n, occurred_at=AT,
        places=[], mentions=[contract.Mention(mention_id=f"toex.referrals:p:{n}#0", role="potential_victim",
                                              given_name="Réka", family_name="Kovács", phones=["+447700900123"])],
    )


@pytest.fixture
def loaded() -> Matcher:
    """A matcher as the worker has it once the nominals are read, before u is estimated."""
    matcher = Matcher()
    matcher.load(record_from_nominal(n) for n in known_nominals())
    return matcher


def test_estimating_u_on_the_model_directly_changes_the_version_the_results_carry(loaded):
    default = FellegiSunter().version()
    [before] = resolve_observation(observation(1), loaded)
    assert before.result.model_version == default

    loaded.model.estimate_u(loaded.index.live())  # what the worker's nominals follower does
    assert loaded.model.u != FellegiSunter().u, "enough nominals to estimate u from"

    [after] = resolve_observation(observation(2), loaded)
    assert after.result.model_version != default, "u changed: the version must follow"
    assert after.result.model_version == loaded.model.version() == loaded.model_version
    # A matcher built afresh on the same parameters reports the same version.
    fresh = Matcher(model=FellegiSunter.from_json(loaded.model.to_json()))
    assert fresh.model_version == after.result.model_version


def test_every_way_of_changing_the_parameters_moves_the_version(loaded):
    model = loaded.model
    seen = {loaded.model_version}
    model.estimate_m([(0, 0, 0, 0, None, None, None, 0)] * 40 + [(4, 3, 4, 1, None, None, None, 1)] * 400, 100)
    assert loaded.model_version not in seen
    seen.add(loaded.model_version)
    model.match_rate = 0.25
    assert loaded.model_version not in seen
    seen.add(loaded.model_version)
    model.u = {**model.u, "gender": [0.6, 0.4]}
    assert loaded.model_version not in seen
    with pytest.raises(TypeError):  # a row cannot change behind the version's back
        model.m["phone"][0] = 0.5


def test_the_written_model_file_round_trips_the_version(loaded, tmp_path: Path):
    loaded.model.estimate_u(loaded.index.live())
    [live] = resolve_observation(observation(3), loaded)

    write_model(loaded.model, tmp_path / TRAINED_MODEL_FILE)
    reread = trained_model(tmp_path)

    assert reread is not None
    assert reread.version() == live.result.model_version
    assert Matcher(model=reread).model_version == live.result.model_version


def test_a_model_file_with_the_wrong_levels_is_refused_with_the_field_named():
    parameters = json.loads(FellegiSunter().to_json())
    parameters["u"]["phone"] = [0.1, 0.2, 0.7]
    with pytest.raises(MatchModelError, match=r"u\['phone'\] has 3 probabilities; it needs one per level, 2"):
        FellegiSunter.from_json(json.dumps(parameters))
