"""Hyper-parameter spaces of the transductive strategies: a default and a search distribution each.

This is DomainBed's ``hparams_registry`` pattern (Gulrajani & Lopez-Paz, ICLR 2021): every strategy
declares its hyper-parameters beside their defaults, and :func:`hparams` turns a strategy name and an
``hparams_seed`` into one configuration:

- ``hparams_seed = 0`` gives the defaults (the values of ``conf/strategy/<name>.yaml``, the
  configuration the published tables run);
- any other seed draws every hyper-parameter from its own distribution, with its own random
  generator seeded by ``zlib.crc32("<strategy>/<hparams_seed>/<name>")`` (a stable hash, unlike
  Python's ``hash``), so adding a hyper-parameter to a strategy does not change the draws of the
  others, and a draw is the same on every machine and Python version.

Names are the strategy's parameter paths as :meth:`~sklearn.base.BaseEstimator.set_params` spells
them, nested ones with ``__`` (``estimator__Cs`` is the C grid of the strategy's SVM; a one-value grid
is a fixed C). :func:`apply_hparams` writes a configuration into a strategy config node before
:func:`hydra.utils.instantiate` builds it; the runner does this for the ``hparams_seed`` config key.

Seed 0 applies the space's defaults, which are the strategy configs' values: for a table row that
sets a declared hyper-parameter itself (``dann2016_amazon``'s ``strategy.lr=0.01``), every
``hparams_seed``, 0 included, replaces the row's value; ``hparams_seed=null`` keeps the row as written.

Examples
--------
>>> hparams("coral", 0)
{'reg': 1.0, 'estimator__Cs': [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]}
>>> hparams("coral", 3) == hparams("coral", 3)
True
>>> sorted(hparams("dann", 1))
['batch_size', 'discriminator_hidden', 'lr', 'trade_off', 'weight_decay']

References
----------
.. [1] I. Gulrajani, D. Lopez-Paz. "In Search of Lost Domain Generalization". ICLR 2021
   (``domainbed/hparams_registry.py``).
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import ConfigError, unknown_name_error

__all__ = [
    "Hyperparameter",
    "LogUniform",
    "Uniform",
    "IntLogUniform",
    "Choice",
    "OneC",
    "applicable_hparams",
    "apply_hparams",
    "check_hparams_seed",
    "hparams",
    "list_search_spaces",
    "search_space",
    "seed_hash",
]

#: significant digits kept of a drawn float (records stay legible; draws stay distinct)
_DIGITS = 6


def _round(x: float) -> float:
    return float(f"{float(x):.{_DIGITS}g}")


@dataclass(frozen=True)
class LogUniform:
    r""":math:`10^{U(lo, hi)}` (DomainBed's ``10 ** r.uniform(lo, hi)``)."""

    lo: float
    hi: float

    def __call__(self, rng: np.random.Generator) -> float:
        return _round(10.0 ** rng.uniform(self.lo, self.hi))

    def __str__(self) -> str:
        return f"10^U({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class Uniform:
    """:math:`U(lo, hi)`."""

    lo: float
    hi: float

    def __call__(self, rng: np.random.Generator) -> float:
        return _round(rng.uniform(self.lo, self.hi))

    def __str__(self) -> str:
        return f"U({self.lo:g}, {self.hi:g})"


@dataclass(frozen=True)
class IntLogUniform:
    r"""``int(2 ** U(lo, hi))`` (DomainBed's batch-size and width distributions)."""

    lo: float
    hi: float

    def __call__(self, rng: np.random.Generator) -> int:
        return int(2.0 ** rng.uniform(self.lo, self.hi))

    def __str__(self) -> str:
        return f"int(2^U({self.lo:g}, {self.hi:g}))"


@dataclass(frozen=True)
class Choice:
    """One of ``options``, uniformly."""

    options: tuple

    def __call__(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def __str__(self) -> str:
        return "one of {" + ", ".join(map(str, self.options)) + "}"


@dataclass(frozen=True)
class OneC:
    r"""A one-value ``Cs`` grid ``[10^{U(lo, hi)}]``: a fixed SVM ``C`` instead of the default
    cross-validated grid (:class:`~tltaxonomy.classifiers.CVSVC` with one ``C`` fits that ``C``)."""

    lo: float
    hi: float

    def __call__(self, rng: np.random.Generator) -> list[float]:
        return [LogUniform(self.lo, self.hi)(rng)]

    def __str__(self) -> str:
        return f"[10^U({self.lo:g}, {self.hi:g})]"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyper-parameter of a strategy: its ``set_params`` name, default and search distribution."""

    name: str
    default: Any
    distribution: Callable[[np.random.Generator], Any]
    doc: str = ""

    def __str__(self) -> str:
        return f"{self.name} = {self.default!r} (search: {self.distribution})" + (f" — {self.doc}" if self.doc else "")


def seed_hash(*parts: object) -> int:
    """A stable 32-bit seed from ``parts`` (``zlib.crc32`` of ``"/".join(parts)``; Python's ``hash``
    of a string changes from process to process)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode("utf-8"))


# --- the spaces ---------------------------------------------------------------------------------

#: the C grid of the classic protocols' SVM in the strategy configs (``conf/strategy/*.yaml``)
_CONF_CS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]
#: the C grid of the toolkit's default SVM (:data:`tltaxonomy.classifiers.DEFAULT_CS`, the CORAL code's)
_DEFAULT_CS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]


def _svm_c(default: list[float], hi: float) -> Hyperparameter:
    return Hyperparameter(
        "estimator__Cs", list(default), OneC(-3, hi),
        "the SVM's C: default = chosen by 2-fold CV on the source over the grid; a draw = one fixed C",
    )


def _subspace_dim(default: int, hi: float = 7.0) -> Hyperparameter:
    return Hyperparameter("n_components", default, IntLogUniform(3, hi), "dimension of the learned subspace")


def _deep(*, transfer: bool = True, extra: Sequence[Hyperparameter] = ()) -> tuple[Hyperparameter, ...]:
    """The shared hyper-parameters of the deep strategies (one torch loop, ``conf/strategy/<deep>.yaml``)."""
    common = [
        Hyperparameter("lr", 0.001, LogUniform(-4, -2), "learning rate"),
        Hyperparameter("weight_decay", 0.0, LogUniform(-6, -2)),
        Hyperparameter("batch_size", 64, IntLogUniform(5, 7)),
    ]
    if transfer:
        common.append(Hyperparameter("trade_off", 1.0, LogUniform(-2, 1), "weight of the transfer loss (lambda)"))
    return (*common, *extra)


_DISCRIMINATOR = Hyperparameter("discriminator_hidden", 1024, IntLogUniform(6, 10), "width of the domain discriminator")

_SPACES: dict[str, tuple[Hyperparameter, ...]] = {
    # baseline: the SVM of the classic protocols
    "source_only": (_svm_c(_CONF_CS, 2),),
    # statistics alignment
    "coral": (
        Hyperparameter("reg", 1.0, LogUniform(-2, 1), "identity regulariser of both covariances"),
        _svm_c(_DEFAULT_CS, 4),
    ),
    # subspace
    "sa": (_subspace_dim(80, 6.6), _svm_c(_DEFAULT_CS, 4)),
    "gfk": (
        Hyperparameter("n_components", "sdm", IntLogUniform(3, 6.6),
                       "subspace dimension; default = the subspace disagreement measure (no labels)"),
        _svm_c(_DEFAULT_CS, 4),
    ),
    "pca": (_subspace_dim(100),),
    "tca": (
        _subspace_dim(100),
        Hyperparameter("reg", 1.0, LogUniform(-2, 1), "lambda, the trade-off of the embedding's regulariser"),
        Hyperparameter("gamma", 1.0, LogUniform(-2, 1), "RBF kernel width (used with kernel='rbf')"),
    ),
    "jda": (
        _subspace_dim(100),
        Hyperparameter("reg", 1.0, LogUniform(-2, 1), "lambda"),
        Hyperparameter("gamma", 1.0, LogUniform(-2, 1), "RBF kernel width (used with kernel='rbf')"),
    ),
    "bda": (
        _subspace_dim(100),
        Hyperparameter("reg", 1.0, LogUniform(-2, 1), "lambda"),
        Hyperparameter("gamma", 1.0, LogUniform(-2, 1), "RBF kernel width (used with kernel='rbf')"),
        Hyperparameter("mu", 0.5, Uniform(0, 1), "balance of marginal and conditional MMD"),
    ),
    # instance reweighting
    "kmm": (Hyperparameter("B", 1000.0, LogUniform(1, 4), "upper bound of the weights"), _svm_c(_CONF_CS, 2)),
    "kliep": (Hyperparameter("n_centers", 100, Choice((50, 100, 200)), "kernel centres (target rows)"),
              _svm_c(_CONF_CS, 2)),
    "density_ratio": (Hyperparameter("classifier__C", 1.0, LogUniform(-3, 2), "C of the domain classifier"),
                      _svm_c(_CONF_CS, 2)),
    # optimal transport
    "ot_mapping": (Hyperparameter("reg_e", 0.01, LogUniform(-2.5, 0), "entropic regularisation"),),
    "ot_class_reg": (
        Hyperparameter("reg_e", 0.01, LogUniform(-2.5, 0), "entropic regularisation"),
        Hyperparameter("reg_cl", 0.1, LogUniform(-3, 1), "class regularisation"),
    ),
    "jdot": (Hyperparameter("alpha", 1.0, LogUniform(-2, 1), "weight of the feature distance in the cost"),),
    # label assignment / self-training / feature learning
    "easytl": (
        Hyperparameter("intra_align", "coral", Choice(("coral", "raw"))),
        Hyperparameter("distance", "euclidean", Choice(("euclidean", "sqeuclidean", "cosine"))),
    ),
    "self_training": (
        Hyperparameter("threshold", 0.9, Uniform(0.5, 0.99), "confidence of the pseudo-labels kept"),
        Hyperparameter("estimator__C", 1.0, LogUniform(-3, 2), "C of the logistic regression"),
    ),
    "msda": (
        Hyperparameter("noise", 0.5, Uniform(0.1, 0.9), "marginalised corruption probability"),
        Hyperparameter("n_layers", 5, Choice((1, 2, 3, 4, 5))),
    ),
    # deep (one loop; a method = its loss)
    "deep_source_only": _deep(transfer=False),
    "adabn": _deep(transfer=False),
    "dann": _deep(extra=(_DISCRIMINATOR,)),
    "cdan": _deep(extra=(_DISCRIMINATOR,)),
    "cdan_e": _deep(extra=(_DISCRIMINATOR,)),
    "dan": _deep(),
    "deep_coral": _deep(),
    "mcc": _deep(extra=(Hyperparameter("temperature", 2.5, Uniform(1.5, 4.0), "softmax temperature"),)),
    "mdd": _deep(extra=(Hyperparameter("margin", 4.0, LogUniform(0, 1), "margin factor gamma"),)),
    "deep_self_training": _deep(extra=(Hyperparameter("threshold", 0.95, Uniform(0.8, 0.99)),)),
}


def list_search_spaces() -> list[str]:
    """Names of the strategies that declare a search space."""
    return sorted(_SPACES)


def search_space(strategy: str) -> dict[str, Hyperparameter]:
    """The declared hyper-parameters of ``strategy`` (a registry name), by name."""
    if strategy not in _SPACES:
        raise unknown_name_error("strategy with a search space", strategy, _SPACES)
    return {hp.name: hp for hp in _SPACES[strategy]}


def check_hparams_seed(hparams_seed: object) -> int:
    """``hparams_seed`` as an int, or a :class:`ConfigError` naming the fix."""
    if isinstance(hparams_seed, bool) or not isinstance(hparams_seed, (int, np.integer)) or hparams_seed < 0:
        raise ConfigError(
            f"hparams_seed={hparams_seed!r} must be a non-negative integer (0 = the defaults, k > 0 = the k-th "
            "draw of the search space) or null (the config as written)."
        )
    return int(hparams_seed)


def hparams(strategy: str, hparams_seed: int) -> dict[str, Any]:
    """One configuration of ``strategy``'s hyper-parameters.

    Parameters
    ----------
    strategy : str
        A registry name with a search space (see :func:`list_search_spaces`).
    hparams_seed : int
        ``0`` = the defaults; ``k > 0`` = each hyper-parameter drawn from its distribution with the
        generator seeded by :func:`seed_hash` ``(strategy, hparams_seed, name)``.

    Returns
    -------
    dict
        ``set_params`` name -> value, in the declared order.
    """
    space = search_space(strategy)
    seed = check_hparams_seed(hparams_seed)
    if seed == 0:
        return {name: copy.deepcopy(hp.default) for name, hp in space.items()}
    return {name: hp.distribution(np.random.default_rng(seed_hash(strategy, seed, name))) for name, hp in space.items()}


def _default_svm(node: Mapping) -> dict:
    """The config of the SVM a strategy builds when its ``estimator`` is null: the toolkit's
    :class:`~tltaxonomy.classifiers.CVSVC` with a linear kernel, or on the precomputed similarity for
    ``variant="released_code"`` (CORAL, SA), over :data:`~tltaxonomy.classifiers.DEFAULT_CS`."""
    kernel = "precomputed" if node.get("variant") == "released_code" else "linear"
    return {"_target_": "tltaxonomy.classifiers.CVSVC", "kernel": kernel, "Cs": list(_DEFAULT_CS)}


def _accepts(target: str, name: str) -> bool:
    import inspect

    from hydra.utils import get_class

    try:
        params = inspect.signature(get_class(target)).parameters
    except Exception:  # an unimportable target fails later, in instantiate, with hydra's message
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def applicable_hparams(strategy_config: Mapping, values: Mapping[str, Any]) -> dict[str, Any]:
    """The hyper-parameters of ``values`` that exist in this strategy config.

    A nested hyper-parameter belongs to one kind of sub-estimator: ``estimator__Cs`` is the C grid of
    the SVM, and a config whose ``estimator`` is a 1-NN (``gfk_1nn``, ``source_only_1nn``) or another
    search (``source_only_svm_val``) has none, so it is left out (and out of the record and its hash).
    """
    out = {}
    for name, value in values.items():
        *parents, leaf = name.split("__")
        node: Any = strategy_config
        for part in parents:
            child = node.get(part) if isinstance(node, Mapping) else None
            node = _default_svm(node) if child is None and part == "estimator" and isinstance(node, Mapping) else child
        if parents and isinstance(node, Mapping) and node.get("_target_") and not _accepts(node["_target_"], leaf):
            continue
        out[name] = value
    return out


def apply_hparams(strategy_config: Mapping, values: Mapping[str, Any]) -> dict:
    """A copy of the strategy config node with ``values`` (``set_params`` names) written in.

    A nested name (``estimator__Cs``) sets the key inside the sub-config; where the strategy's
    ``estimator`` is null (the strategy's built-in SVM), that SVM's config is written out first
    (:class:`~tltaxonomy.classifiers.CVSVC`, linear, or precomputed for ``variant="released_code"``,
    over the default C grid), so the default value of ``estimator__Cs`` reproduces the null estimator.
    """
    out = copy.deepcopy(dict(strategy_config))
    for name, value in values.items():
        *parents, leaf = name.split("__")
        node = out
        where = "strategy"
        for part in parents:
            child = node.get(part)
            if child is None and part == "estimator":
                child = node[part] = _default_svm(node)
            if not isinstance(child, dict):
                raise ConfigError(
                    f"hyper-parameter {name!r}: {where}.{part} is {child!r}, not a config with parameters; "
                    "set it in the strategy config or drop the hyper-parameter from the search space."
                )
            node, where = child, f"{where}.{part}"
        if not parents and leaf not in node:
            raise ConfigError(
                f"hyper-parameter {name!r} is not a parameter of {out.get('_target_')} "
                f"(its parameters: {', '.join(sorted(k for k in node if not k.startswith('_')))})."
            )
        node[leaf] = copy.deepcopy(value)
    return out
