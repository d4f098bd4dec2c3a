"""The risk models' checkpoint file: what the worker writes as it learns, and what it (and replay) restore.

The worker learns every example on ``toex.training`` in topic order and
checkpoints the models with the offset it reached; after a restart it resumes
from there. Replay restores the same file read-only (``--model current``), so
that it scores with the models the live worker runs.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from toex_stream.domain.scoring.scorer import Scorer

log = logging.getLogger(__name__)

CHECKPOINT_FILE = Path("models") / "checkpoint.pkl"  # under the data folder


def restore_models(scorer: Scorer, checkpoint: Path) -> int:
    """Load the checkpoint into ``scorer``'s models; return the training offset to resume from (0 without one)."""
    if not checkpoint.exists():
        return 0
    saved = pickle.loads(checkpoint.read_bytes())  # safe: the worker's own file, never outside input
    for threat, blob in saved["models"].items():
        if threat in scorer.models:
            scorer.models[threat].restore(blob)
    return int(saved["offset"])


def write_models(scorer: Scorer, checkpoint: Path, offset: int) -> None:
    """Atomically replace the checkpoint: the models as learnt up to ``offset``."""
    blob = pickle.dumps({"offset": offset, "models": {t: m.checkpoint() for t, m in scorer.models.items()}})
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    partial = checkpoint.with_suffix(".partial")
    partial.write_bytes(blob)
    partial.replace(checkpoint)
