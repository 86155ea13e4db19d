"""Multi-task learning: hard parameter sharing with loss weighting / gradient combination, and linear
multi-task regression.

- :class:`HardSharingMTL` (registered ``hard_sharing``): a shared trunk and one head per task,
  classification and regression tasks mixed; ``sharing="none"`` = the single-task baselines.
- Gradient combiners (:data:`COMBINERS`, plain :class:`torch.nn.Module` s usable in any loop, and by
  the deep domain-adaptation strategies through their ``loss_weighting``): :class:`EqualWeighting`,
  :class:`UncertaintyWeighting`, :class:`GradNorm`, :class:`DWA`, :class:`PCGrad`, :class:`CAGrad`,
  :class:`MGDA` (with the exact :func:`min_norm_solver`).
- Linear multi-task regression (the School benchmark; ``Y`` with NaN where a row has no label for a
  task): :class:`SingleTaskRidge` and :class:`PooledRidge` (the baselines), :class:`MeanRegularizedMTL`,
  :class:`TraceNormMTL`, :class:`MultiTaskFeatureLearning`.
"""

from .weighting import (
    COMBINERS,
    CAGrad,
    DWA,
    EqualWeighting,
    GradientCombiner,
    GradNorm,
    MGDA,
    PCGrad,
    UncertaintyWeighting,
    make_combiner,
    min_norm_solver,
)
from .hard_sharing import HardSharingMTL, MultiTaskNetwork, check_multitask_targets
from .linear import (
    MeanRegularizedMTL,
    MultiTaskFeatureLearning,
    PooledRidge,
    SingleTaskRidge,
    TraceNormMTL,
    normalized_mse,
    singular_value_thresholding,
)

__all__ = [
    "CAGrad",
    "COMBINERS",
    "DWA",
    "EqualWeighting",
    "GradNorm",
    "GradientCombiner",
    "HardSharingMTL",
    "MGDA",
    "MeanRegularizedMTL",
    "MultiTaskFeatureLearning",
    "MultiTaskNetwork",
    "PCGrad",
    "PooledRidge",
    "SingleTaskRidge",
    "TraceNormMTL",
    "UncertaintyWeighting",
    "check_multitask_targets",
    "make_combiner",
    "min_norm_solver",
    "normalized_mse",
    "singular_value_thresholding",
]
