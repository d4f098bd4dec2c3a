"""Where the match model lives on disk: a trained one to start from, and the one the worker matches with.

``match_model.json`` in the data folder is a model trained offline
(``toex-stream eval match --save-model``): the worker uses it as it is. Without
one, the worker starts from the default model and estimates u from random pairs
of the nominals it loads, so its model depends on what ``toex.nominals`` held
when it started; it writes that model to ``models/match_model.live.json`` so
that replay matches with exactly the parameters the live worker used.
"""

from __future__ import annotations

from pathlib import Path

from toex_stream.domain.matching.model import FellegiSunter

TRAINED_MODEL_FILE = Path("match_model.json")
LIVE_MODEL_FILE = Path("models") / "match_model.live.json"


def trained_model(data_dir: Path) -> FellegiSunter | None:
    """The offline-trained model in ``data_dir``, if there is one."""
    path = data_dir / TRAINED_MODEL_FILE
    return FellegiSunter.from_json(path.read_text(encoding="utf-8")) if path.exists() else None


def live_model(data_dir: Path) -> FellegiSunter | None:
    """The model the live worker matched with since it last started, if it wrote one."""
    path = data_dir / LIVE_MODEL_FILE
    return FellegiSunter.from_json(path.read_text(encoding="utf-8")) if path.exists() else None


def write_model(model: FellegiSunter, path: Path) -> None:
    """Atomically replace ``path`` with the model's parameters (JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(model.to_json(), encoding="utf-8")
    partial.replace(path)
