"""The one torch training loop of the toolkit, and its checkpoints.

Every deep strategy trains through :class:`Trainer`; a method plugs in a *step* (its loss), never a
new loop. Checkpoints are written atomically and loaded with ``weights_only=True``.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .trainer import (
    Trainer,
    TrainingHistory,
    TrainState,
    classification_step,
    resolve_device,
    seeded,
    trainer_from,
)

__all__ = [
    "CheckpointError",
    "Trainer",
    "TrainingHistory",
    "TrainState",
    "classification_step",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "seeded",
    "trainer_from",
]
