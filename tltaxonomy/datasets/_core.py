"""Dataset registry, task data container and the :func:`load_task` / :func:`fetch_dataset` entry points."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._errors import UnknownNameError, unknown_name_error
from ._files import RemoteFile, ensure_file, get_data_dir
from .preprocessing import get_preprocessor

__all__ = ["TaskSpec", "Dataset", "TaskData", "list_datasets", "get_dataset", "load_task", "fetch_dataset"]


@dataclass(frozen=True)
class TaskSpec:
    """One task of a dataset.

    Attributes
    ----------
    name : str
        Task name, e.g. ``"A_to_W"``.
    source : str or None
        Display name of the source domain (``None`` for single-domain tasks).
    target : str
        Display name of the target domain.
    description : str
    params : dict
        Loader parameters (internal: which files / keys make up the task).
    """

    name: str
    source: str | None
    target: str
    description: str = ""
    params: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A registered dataset: its files, tasks, default preprocessing and loader.

    Attributes
    ----------
    name : str
    description : str
    tasks : dict of str to TaskSpec
        The named tasks (``get_task`` also resolves parametrised names such as ``rotated_<angle>``).
    default_preprocess : str
        Name of the preprocessing step the dataset's reference protocol uses.
    files : list of RemoteFile
        The data files the loader reads (empty for synthetic datasets).
    citation : str
        The references to cite.
    n_classes : int
    image_shape : tuple of int or None
        Shape such that ``X.reshape(-1, *image_shape)`` gives upright images, for image datasets (with
        the default ``options``; a loader whose options change the shape reports the task's own).
    options : dict of str to object
        The loader's parameters with their defaults (e.g. ``{"size": 64}``); empty for most datasets.
        :func:`load_task` passes them to the loader as keyword arguments (``load_task(..., size=96)``,
        or ``dataset.size=96`` in a run config).
    """

    name: str
    description: str
    tasks: dict[str, TaskSpec]
    default_preprocess: str
    files: list[RemoteFile]
    citation: str
    n_classes: int
    image_shape: tuple[int, ...] | None = None
    loader: Callable[..., dict] = field(default=None, repr=False)
    resolve_task: Callable[[str], TaskSpec | None] | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The dataset's default :attr:`options` updated with ``options``.

        Raises
        ------
        UnknownNameError
            For an option the dataset does not have; the message lists its options.
        """
        for key in options:
            if key not in self.options:
                err = unknown_name_error("dataset option", key, self.options)
                raise UnknownNameError(f"{err} (dataset {self.name!r})") from None
        return {**self.options, **options}

    def get_task(self, task: str) -> TaskSpec:
        """Return the :class:`TaskSpec` called ``task``.

        Raises
        ------
        UnknownNameError
            For an unknown task; the message suggests the closest task names of this dataset.
        """
        if task in self.tasks:
            return self.tasks[task]
        if self.resolve_task is not None and isinstance(task, str):
            spec = self.resolve_task(task)
            if spec is not None:
                return spec
        err = unknown_name_error("task", task, self.tasks)
        raise UnknownNameError(f"{err} (dataset {self.name!r})") from None


_REGISTRY: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry (internal; replaces a dataset of the same name)."""
    _REGISTRY[dataset.name] = dataset
    return dataset


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(_REGISTRY)


def get_dataset(name: str) -> Dataset:
    """Return the registered :class:`Dataset` called ``name``.

    Raises
    ------
    UnknownNameError
        For an unknown name; the message suggests the closest dataset names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise unknown_name_error("dataset", name, _REGISTRY) from None


def _nrows(X) -> int:
    return X.shape[0]


@dataclass(frozen=True, eq=False)
class TaskData:
    """The arrays of one task, ready to use.

    Attributes
    ----------
    dataset, task : str
    X_source, y_source : array or sparse matrix, ndarray of int, or None
        Labelled source domain (``None`` for single-domain datasets).
    X_target, y_target : array or sparse matrix, ndarray of int
        Target domain training rows. For domain adaptation their labels are *not* for training
        (use :meth:`domain_adaptation_view`); inductive / single-domain protocols may use them.
    X_test, y_test : array or sparse matrix, ndarray of int
        The evaluation split. For transductive protocols (Office+Caltech SURF, JDA digits,
        Amazon 400-d, moons) this is the target itself (the same objects as ``X_target`` / ``y_target``).
    preprocess : str
        Name of the preprocessing step that was applied (per domain).
    n_classes : int
        Labels are ints ``0 .. n_classes-1``.
    image_shape : tuple of int or None
        ``X.reshape(-1, *image_shape)`` gives upright images.
    meta : dict
        Domain display names (``source_domain``, ``target_domain``), ``transductive`` (whether the test
        split is the target), ``files`` and notes.
    """

    dataset: str
    task: str
    X_source: Any
    y_source: np.ndarray | None
    X_target: Any
    y_target: np.ndarray
    X_test: Any
    y_test: np.ndarray
    preprocess: str
    n_classes: int
    image_shape: tuple[int, ...] | None = None
    meta: dict = field(default_factory=dict)

    def domain_adaptation_view(self):
        """Stack source and target rows in the ``(X, y, sample_domain)`` form of the strategies.

        Returns
        -------
        X : ndarray or scipy.sparse.csr_matrix
            Source rows followed by target rows (a new array).
        y : ndarray of int
            Source labels, then ``-1`` for every target row (a new array; ``y_target`` is untouched).
        sample_domain : ndarray of int
            ``+1`` for source rows, ``-1`` for target rows.

        Raises
        ------
        ValueError
            For a single-domain task (no source).
        """
        if self.X_source is None or self.y_source is None:
            raise ValueError(
                f"Task {self.dataset}/{self.task} is single-domain (no source data), so it has no domain-adaptation "
                "view; use X_target/y_target and X_test/y_test directly, or a two-domain dataset such as 'digits'."
            )
        ns, nt = _nrows(self.X_source), _nrows(self.X_target)
        if sp.issparse(self.X_source) or sp.issparse(self.X_target):
            X = sp.vstack([sp.csr_matrix(self.X_source), sp.csr_matrix(self.X_target)], format="csr")
        else:
            X = np.vstack([self.X_source, self.X_target])
        y = np.concatenate([np.asarray(self.y_source, dtype=np.int64), np.full(nt, -1, dtype=np.int64)])
        sd = np.concatenate([np.ones(ns, dtype=np.int64), -np.ones(nt, dtype=np.int64)])
        return X, y, sd

    def __repr__(self) -> str:
        def shape(a):
            return None if a is None else tuple(a.shape)

        return (
            f"TaskData(dataset={self.dataset!r}, task={self.task!r}, preprocess={self.preprocess!r}, "
            f"n_classes={self.n_classes}, X_source={shape(self.X_source)}, X_target={shape(self.X_target)}, "
            f"X_test={shape(self.X_test)}, test_is_target={self.X_test is self.X_target})"
        )


def load_task(
    dataset: str,
    task: str,
    *,
    preprocess: str | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    **options: Any,
) -> TaskData:
    """Load one task of a registered dataset.

    Parameters
    ----------
    dataset : str
        A name of :func:`list_datasets`.
    task : str
        A task of that dataset (``get_dataset(dataset).tasks``).
    preprocess : str, optional
        A name of :data:`~tltaxonomy.datasets.PREPROCESSORS`; defaults to the dataset's
        ``default_preprocess``. Applied separately to source, target and test.
    data_dir : str or path-like, optional
        See :func:`~tltaxonomy.datasets.get_data_dir`.
    download : bool, default=False
        Download missing files (pinned URLs, sha256 verified).
    **options
        Dataset parameters (:attr:`Dataset.options`), e.g. ``size=96`` for ``office_caltech_images``;
        the others keep their defaults.

    Returns
    -------
    TaskData

    Raises
    ------
    UnknownNameError
        Unknown dataset, task, preprocessing name or dataset option.
    DataFileNotFoundError, DataChecksumError
        A data file is missing or corrupt.
    """
    ds = get_dataset(dataset)
    spec = ds.get_task(task)
    prep_name = ds.default_preprocess if preprocess is None else preprocess
    prep = get_preprocessor(prep_name)
    opts = ds.resolve_options(options)

    used: list[str] = []

    def fetch(remote: RemoteFile) -> Path:
        path = ensure_file(remote, data_dir, download=download, dataset=ds.name)
        used.append(str(path))
        return path

    raw = ds.loader(spec, fetch, **opts) if opts else ds.loader(spec, fetch)
    Xs, Xt, Xte = raw["X_source"], raw["X_target"], raw["X_test"]
    test_is_target = Xte is Xt
    Xs = None if Xs is None else prep(Xs)
    Xt_p = prep(Xt)
    Xte_p = Xt_p if test_is_target else prep(Xte)
    yt = raw["y_target"]
    yte = yt if raw["y_test"] is raw["y_target"] else raw["y_test"]
    meta = {
        "source_domain": spec.source,
        "target_domain": spec.target,
        "transductive": test_is_target,
        "files": used,
        "preprocess_description": prep.description,
    }
    if opts:
        meta["options"] = dict(opts)
    meta.update(raw.get("meta", {}))
    return TaskData(
        dataset=ds.name,
        task=spec.name,
        X_source=Xs,
        y_source=raw["y_source"],
        X_target=Xt_p,
        y_target=yt,
        X_test=Xte_p,
        y_test=yte,
        preprocess=prep.name,
        n_classes=raw.get("n_classes", ds.n_classes),  # a dataset option may change it (newsgroups_topics)
        image_shape=raw.get("image_shape", ds.image_shape),
        meta=meta,
    )


def fetch_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
) -> list[Path]:
    """Download the missing files of a dataset and verify all of them.

    Used by ``tltax data fetch NAME``.

    Parameters
    ----------
    name : str
        Dataset name.
    data_dir : str or path-like, optional
        See :func:`~tltaxonomy.datasets.get_data_dir`.
    progress : bool, default=True
    base_url : str, optional
        Mirror replacing ``https://raw.githubusercontent.com`` (default: ``TLTAX_DATA_URL``).

    Returns
    -------
    list of pathlib.Path
        The local paths of the dataset's files (empty for synthetic datasets).

    Raises
    ------
    UnknownNameError, DataFileError, DataChecksumError
    """
    ds = get_dataset(name)
    root = get_data_dir(data_dir)
    return [
        ensure_file(f, root, download=True, progress=progress, base_url=base_url, dataset=ds.name) for f in ds.files
    ]
