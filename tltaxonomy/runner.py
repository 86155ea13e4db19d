"""The experiment runner: one resolved config → one record in the store.

``tltax run strategy=coral dataset=office_caltech_surf task=A_to_W seed=0`` composes ``conf/``,
checks every ``_target_`` against the allow-list, loads the task, builds the strategy with
:func:`hydra.utils.instantiate`, runs the protocol of the strategy's setting and writes one record
(resolved config, config hash, seeds, metrics by split, timings, versions, git commit, selection
protocol). Running the same config again returns the stored record without recomputing.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ConfigError, TLTaxonomyError
from ._overrides import check_overrides
from .protocols import run_protocol
from .store import ResultStore, config_hash

__all__ = [
    "CONF_DIR",
    "ALLOWED_TARGET_PREFIXES",
    "RunResult",
    "check_targets",
    "compose_config",
    "record_key",
    "run_experiment",
    "main",
    "SweepProgress",
    "sweep_outcomes",
]

_REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the Hydra config groups live (``$TLTAX_CONF_DIR`` overrides).
CONF_DIR = Path(os.environ.get("TLTAX_CONF_DIR", _REPO_ROOT / "conf")).resolve()
#: Only these modules may be instantiated from a config (no arbitrary code from a YAML file).
ALLOWED_TARGET_PREFIXES = ("tltaxonomy.", "sklearn.")


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_experiment` returns."""

    record: dict
    reused: bool
    path: Path

    @property
    def metrics(self) -> dict:
        return self.record["metrics"]


def check_targets(node: Any, where: str = "config") -> None:
    """Refuse any ``_target_`` outside :data:`ALLOWED_TARGET_PREFIXES` (recursively)."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(ALLOWED_TARGET_PREFIXES):
            raise ConfigError(
                f"{where}._target_={target!r} is not allowed: only classes under "
                f"{', '.join(ALLOWED_TARGET_PREFIXES)} can be instantiated from a config. "
                "Register your class in tltaxonomy or pass the object from Python."
            )
        for key, value in node.items():
            check_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_targets(value, f"{where}[{i}]")


def compose_config(overrides: list[str] | tuple[str, ...] = ()):
    """Compose ``conf/config.yaml`` with Hydra overrides (the same config ``tltax run`` builds)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@lru_cache(maxsize=1)
def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str]:
    import hydra
    import scipy
    import sklearn
    import torch

    import tltaxonomy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "hydra-core": hydra.__version__,
        "tltaxonomy": tltaxonomy.__version__,
    }


def _split_config(cfg) -> tuple[dict, dict]:
    from omegaconf import DictConfig, OmegaConf

    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    container.pop("hydra", None)
    runtime = container.pop("runtime", None) or {}
    for key in ("strategy", "dataset", "task", "seed"):
        if key not in container or container[key] is None:
            raise ConfigError(f"The run config has no {key!r}; set it, e.g. `tltax run {key}=...`.")
    seed = container["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            if isinstance(seed, bool) or float(seed) != int(float(seed)):
                raise ValueError
            container["seed"] = int(float(seed))
        except (TypeError, ValueError):
            raise ConfigError(f"seed must be an integer, got {seed!r}; e.g. `tltax run seed=0` (a sweep: seed=0,1,2).") from None
    if not isinstance(container["strategy"], dict) or "_target_" not in container["strategy"]:
        raise ConfigError(
            "The `strategy` config must be a mapping with a `_target_`; pick one with strategy=<name> "
            "(see `tltax list strategies`)."
        )
    return container, runtime


def _strategy_class(config: dict) -> type:
    from hydra.utils import get_class

    target = config["strategy"]["_target_"]
    try:
        return get_class(target)
    except Exception as exc:  # hydra wraps import errors in several types
        raise ConfigError(f"strategy._target_={target!r} cannot be imported: {exc}") from None


#: the settings whose strategies get a pretrained backbone from the config's ``pretrain`` group (inductive
#: transfer and feature reuse for clustering; a deep domain-adaptation strategy trains on source + target)
_PRETRAINING_SETTINGS = ("inductive", "unsupervised")

#: which ``protocol.*`` keys each setting's protocol reads (the others do not enter its hash)
_PROTOCOL_KEYS = {
    "inductive": ("labels_per_class",),
    # source_val_fraction is set by selection=scores only, so the other runs' hashes do not change
    "transductive": ("source_per_class", "source_val_fraction"),
    "unsupervised": (),
}


def _effective_config(config: dict) -> dict:
    """Drop the parts of the config that cannot influence this strategy's run, so that the hash (and
    the stored record) only changes when something that matters changes."""
    cls = _strategy_class(config)
    setting = getattr(cls, "_setting", "")
    params = cls().get_params(deep=False) if hasattr(cls, "get_params") else {}
    config = dict(config)
    # a multi-task strategy reads protocol.train_fraction (where a task's test split is its pool), not the label budget
    keys = ("train_fraction",) if getattr(cls, "_multitask", False) else _PROTOCOL_KEYS.get(setting, ())
    protocol = {k: v for k, v in (config.pop("protocol", None) or {}).items() if k in keys}
    if protocol:
        config["protocol"] = protocol
    if "pretrained" not in params or setting not in _PRETRAINING_SETTINGS:
        config.pop("pretrain", None)  # domain adaptation trains its network on the task itself
    hparams_seed = config.pop("hparams_seed", None)
    if hparams_seed is not None:  # null (the config as written) stays out of the hash: old records keep theirs
        from .hparams import applicable_hparams, check_hparams_seed, hparams

        config["hparams_seed"] = check_hparams_seed(hparams_seed)
        drawn = hparams(getattr(cls, "_strategy_name", None) or cls.__name__, config["hparams_seed"])
        config["hparams"] = applicable_hparams(config["strategy"], drawn)
    return config


@lru_cache(maxsize=8)
def _load_task(dataset: str, task: str, preprocess: str | None, data_dir: str | None, options: tuple = ()):
    """:func:`~tltaxonomy.datasets.load_task`, once per process for the cells of a table (its seeds
    share the task). The arrays are made read-only, so no strategy can change what the next cell sees.
    ``options`` are the dataset parameters as sorted ``(key, value)`` pairs (hashable, for the cache)."""
    from .datasets import load_task

    data = load_task(dataset, task, preprocess=preprocess, data_dir=data_dir, **dict(options))
    for value in vars(data).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return data


def _resolve(cfg) -> tuple[dict, dict, str]:
    config, runtime = _split_config(cfg)
    check_targets(config["strategy"], "strategy")
    config = _effective_config(config)
    return config, runtime, config_hash(config)


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Run the block with ``n_threads`` torch intra-op threads (then restore the previous number).

    A torch computation on the CPU is bit-identical from run to run only with the same number of
    threads (the reductions are blocked by thread), so the runner pins it: ``runtime.torch_threads: 1``
    by default, which is also what each ``tltax bench -j N`` worker runs with, so ``tltax run`` and
    ``tltax bench`` give the same numbers. ``None`` leaves torch's own setting. Yields the settings the
    record stores: the thread count and torch's determinism flags.
    """
    import torch

    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1):
        raise ConfigError(f"runtime.torch_threads={n_threads!r} must be a positive integer or null (torch's default).")
    before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield {
            "num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        }
    finally:
        torch.set_num_threads(before)


def record_key(cfg) -> str:
    """The store key (config hash) of the record :func:`run_experiment` writes for ``cfg``."""
    return _resolve(copy.deepcopy(cfg) if isinstance(cfg, dict) else cfg)[2]


def run_experiment(cfg, *, store: ResultStore | None = None, force: bool | None = None) -> RunResult:
    """Run one experiment from a composed config, or return its stored record.

    Parameters
    ----------
    cfg : DictConfig or dict
        A config composed from ``conf/`` (see :func:`compose_config`).
    store : ResultStore, optional
        Defaults to ``runtime.store`` of the config.
    force : bool, optional
        Recompute even if a record exists (defaults to ``runtime.force``).
    """
    from hydra.utils import instantiate

    t_start = time.perf_counter()
    config, runtime, key = _resolve(cfg)
    store = ResultStore(runtime.get("store")) if store is None else store
    force = runtime.get("force", False) if force is None else force
    if not force:
        record = store.get(key)
        if record is not None:
            return RunResult(record=record, reused=True, path=store.path(key))

    dataset_cfg = config["dataset"]
    seed = int(config["seed"])
    timings: dict[str, float] = {}
    t = time.perf_counter()
    # Keys of the dataset config beside name/preprocess are dataset parameters (e.g. `size` of
    # office_caltech_images); they are part of the config, hence of the record's hash.
    options = tuple(sorted((k, v) for k, v in dataset_cfg.items() if k not in ("name", "preprocess")))
    task = _load_task(
        dataset_cfg["name"], config["task"], dataset_cfg.get("preprocess"), runtime.get("data_dir"), options
    )
    timings["load_s"] = time.perf_counter() - t

    strategy_cfg = config["strategy"]
    if config.get("hparams"):  # the drawn hyper-parameters of hparams_seed override the config's
        from .hparams import apply_hparams

        strategy_cfg = apply_hparams(strategy_cfg, config["hparams"])
        check_targets(strategy_cfg, "strategy")
    strategy = instantiate(strategy_cfg, _convert_="all")
    with torch_threads(runtime.get("torch_threads", 1)) as torch_settings:
        extra = _runtime_params(strategy, task, config, runtime, store, timings)
        if extra:
            strategy.set_params(**extra)
        metrics, info = run_protocol(strategy, task, config, timings)
    timings["total_s"] = time.perf_counter() - t_start

    record = {
        "config": config,
        "strategy": type(strategy)._strategy_name or type(strategy).__name__,
        "setting": type(strategy)._setting,
        "family": type(strategy)._family,
        "dataset": dataset_cfg["name"],
        "task": config["task"],
        "seed": seed,
        "selection": config.get("selection") or strategy.selection_protocol(),
        "metrics": metrics,
        "protocol_info": info,
        "runtime_params": {k: str(v) for k, v in extra.items()},
        "timings": timings,
        "versions": _versions(),
        "torch_settings": torch_settings,
        "git_commit": _git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if config.get("hparams_seed") is not None:
        record["hparams_seed"], record["hparams"] = config["hparams_seed"], config["hparams"]
    path = store.put(key, record)
    return RunResult(record=store.get(key) or record, reused=False, path=path)


def _runtime_params(strategy, task, config, runtime, store, timings) -> dict:
    """Parameters that depend on the loaded task or on the runtime, not on the config text."""
    extra: dict[str, Any] = {}
    top = strategy.get_params(deep=False)
    levels = [("", top)]
    inner = top.get("estimator")
    if getattr(type(strategy), "_setting", "") == "unsupervised" and hasattr(inner, "get_params"):
        # a selection wrapper (UnsupervisedSearch): its clusterer gets the same runtime parameters
        levels.append(("estimator__", inner.get_params(deep=False)))
    pretrain = config.get("pretrain") or {}
    for prefix, params in levels:
        if "n_clusters" in params and params["n_clusters"] is None:
            extra[prefix + "n_clusters"] = task.n_classes
        if params.get("task_types") == "auto" and task.meta.get("task_types"):
            extra[prefix + "task_types"] = list(task.meta["task_types"])  # the dataset declares each task's kind
        if "device" in params and params["device"] == "auto" and runtime.get("device", "auto") != "auto":
            extra[prefix + "device"] = runtime["device"]
        if "progress" in params and runtime.get("progress"):
            extra[prefix + "progress"] = True
        if (
            pretrain
            and getattr(type(strategy), "_setting", "") in _PRETRAINING_SETTINGS
            and "pretrained" in params
            and params.get("pretrained") is None
            and params.get("backbone") is not None
        ):
            t = time.perf_counter()
            extra[prefix + "pretrained"] = str(_pretrain(params, task, config, pretrain, store))
            timings["pretrain_s"] = timings.get("pretrain_s", 0.0) + time.perf_counter() - t
    return extra


def _pretrain(params: dict, task, config: dict, pretrain: dict, store: ResultStore) -> Path:
    """Pretrain the strategy's backbone on the task's source split (cached by content hash)."""
    from .backbones import pretrain_backbone
    from .training import Trainer

    if pretrain.get("data", "source") != "source":
        raise ConfigError(f"pretrain.data={pretrain.get('data')!r} is not supported; use 'source' or pretrain=none.")
    if task.X_source is None:
        raise ConfigError(
            f"pretrain=source needs a source split, but {task.dataset}/{task.task} has none; "
            "use a transfer task (e.g. dataset=digits task=MNIST_to_USPS) or pretrain=none."
        )
    backbone = params["backbone"]
    if not isinstance(backbone, str):
        raise ConfigError("Pretraining from the runner needs a registered backbone name (e.g. backbone=lenet).")
    spec = {
        "dataset": config["dataset"],
        "task": config["task"],
        "backbone": backbone,
        "input_shape": list(params.get("input_shape") or []),
        "pretrain": pretrain,
    }
    path = store.cache_dir / "pretrained" / f"{backbone}-{config_hash(spec)[:16]}.pt"
    trainer = Trainer(**pretrain.get("trainer", {}), seed=int(pretrain.get("seed", 0)))
    return pretrain_backbone(
        backbone,
        task.X_source,
        task.y_source,
        input_shape=tuple(params["input_shape"]),
        trainer=trainer,
        checkpoint_path=path,
        augment=str(pretrain.get("augment", "none")),
    )


def _format_metrics(result: RunResult) -> str:
    rec = result.record
    head = f"{rec['strategy']} on {rec['dataset']}/{rec['task']} seed={rec['seed']} (selection: {rec['selection']})"
    lines = [head + ("  [reused stored record]" if result.reused else "")]
    for name, value in sorted(rec["metrics"].items()):
        lines.append(f"  {name:<24} {value:.4f}" if isinstance(value, float) else f"  {name:<24} {value}")
    lines.append(f"  record: {result.path}")
    return "\n".join(lines)


# -- sweeps: progress and summary ---------------------------------------------------------------
# Each job of a multirun leaves its outcome (done / skipped / failed) in its own output folder; the
# process that runs the sweep (whatever the launcher: in-process, joblib, submitit, Ray) reads them back
# for a progress bar and, at the end, a one-line summary on stderr. Files, not messages, because a
# launcher's workers are other processes, or other machines sharing the sweep folder.

#: the outcome file of one job, in its Hydra output folder (``hydra.sweep.dir/<job num>/``)
JOB_STATUS_FILE = "tltax_status.json"
_SWEEP: dict[str, Any] = {}  # the running sweep's state, in the process that launched it


def _job_status(status: str, seconds: float, key: str | None = None) -> None:
    """Record the outcome of a multirun job in its output folder (nothing outside a multirun)."""
    import json

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from .store import atomic_write_text

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    hydra_cfg = HydraConfig.get()
    status_doc = {"status": status, "seconds": round(seconds, 3), "config_hash": key, "job": hydra_cfg.job.num}
    with contextlib.suppress(OSError):  # a progress file must never fail the run
        atomic_write_text(Path(hydra_cfg.runtime.output_dir) / JOB_STATUS_FILE, json.dumps(status_doc) + "\n")


def _sweep_size(config) -> int | None:
    """How many jobs the basic sweeper makes of ``config`` (None for another sweeper, or if unknown)."""
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
            return None
        params = config.hydra.sweeper.get("params") or {}
        overrides = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
        batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), None)
        return sum(len(batch) for batch in batches)
    except Exception:  # an exotic sweep: a bar without a total
        return None


def sweep_outcomes(sweep_dir: str | os.PathLike) -> dict[str, int]:
    """Count the job outcomes (``done`` / ``skipped`` / ``failed``) left under a sweep folder."""
    import json

    counts = {"done": 0, "skipped": 0, "failed": 0}
    root = Path(sweep_dir)
    if not root.is_dir():
        return counts
    for path in root.glob(f"**/{JOB_STATUS_FILE}"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            status = json.loads(path.read_text(encoding="utf-8"))["status"]
            if status in counts:
                counts[status] += 1
    return counts


def _watch_sweep(state: dict) -> None:
    """Thread body: update the progress bar from the outcome files until the sweep ends."""
    from tqdm.auto import tqdm

    bar = tqdm(total=state["total"], desc="sweep", unit="run", file=sys.stderr, disable=not state["bar"], leave=False)
    last = None
    try:
        while True:
            counts = sweep_outcomes(state["dir"])
            if counts != last or state["tty"]:  # into a log file only when something changed
                bar.n = sum(counts.values())
                bar.set_postfix(counts, refresh=False)
                bar.refresh()
                last = counts
            if state["stop"].wait(0.5):
                break
    finally:
        bar.close()


def _finish_sweep() -> None:
    """Stop the progress bar and print the summary of the sweep started in this process (once)."""
    state = _SWEEP.pop("state", None)
    if state is None:
        return
    state["stop"].set()
    state["thread"].join(timeout=5)
    counts = sweep_outcomes(state["dir"])
    seen = sum(counts.values())
    total = state["total"]
    missing = f", {total - seen} without an outcome" if total is not None and seen < total else ""
    print(
        f"tltax sweep: {seen if total is None else total} runs in {time.perf_counter() - state['t0']:.1f} s: "
        f"{counts['done']} done, {counts['skipped']} skipped (already in the store), "
        f"{counts['failed']} failed{missing}",
        file=sys.stderr,
        flush=True,
    )


try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - hydra-core < 1.1
    _HydraCallback = object


class SweepProgress(_HydraCallback):
    """Hydra callback (``hydra.callbacks.tltax_sweep`` in ``conf/config.yaml``): a progress bar over the
    jobs of a multirun (on stderr, when it is a terminal or ``runtime.progress=true``) and a summary
    line at the end: runs done, skipped as already in the store, failed, and the total time.

    It keeps no state on the instance: Hydra pickles its callbacks to the launcher's workers."""

    def on_multirun_start(self, config, **kwargs) -> None:
        import threading

        _finish_sweep()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        for stale in sweep_dir.glob(f"**/{JOB_STATUS_FILE}") if sweep_dir.is_dir() else ():
            with contextlib.suppress(OSError):  # a rerun into the same folder redoes every job
                stale.unlink()
        progress = bool((config.get("runtime") or {}).get("progress", False))
        state = {
            "dir": sweep_dir,
            "total": _sweep_size(config),
            "t0": time.perf_counter(),
            "bar": progress or sys.stderr.isatty(),
            "tty": sys.stderr.isatty(),
            "stop": threading.Event(),
        }
        state["thread"] = threading.Thread(target=_watch_sweep, args=(state,), name="tltax-sweep", daemon=True)
        state["thread"].start()
        _SWEEP["state"] = state

    def on_multirun_end(self, config, **kwargs) -> None:
        _finish_sweep()


def _single_run() -> bool:
    """Whether the current Hydra job is a single run (not one job of a multirun sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.RUN
    except ValueError:  # not inside a Hydra job
        return False


def main(argv: list[str] | None = None) -> None:
    """Hydra entry point of ``tltax run`` (``argv`` are Hydra overrides and flags such as ``-m``)."""
    import sys

    import hydra

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def _app(cfg) -> None:
        t = time.perf_counter()
        try:
            result = run_experiment(cfg)
        except BaseException as exc:
            _job_status("failed", time.perf_counter() - t)  # for the sweep's progress and summary
            if isinstance(exc, TLTaxonomyError) and _single_run():  # a user's mistake: its message, no trace
                print(f"tltax run: error: {exc}", file=sys.stderr, flush=True)
                raise SystemExit(2) from None
            raise  # in a sweep, Hydra counts the failed job and runs the others
        _job_status("skipped" if result.reused else "done", time.perf_counter() - t, result.path.stem)
        print(_format_metrics(result), flush=True)

    old = sys.argv
    try:  # misspelt groups, options and keys: one paragraph with the closest valid names, before Hydra
        check_overrides(old[1:] if argv is None else list(argv), CONF_DIR)
    except TLTaxonomyError as exc:
        print(f"tltax run: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    sys.argv = ["tltax run", *(old[1:] if argv is None else argv)]
    try:
        _app()
    finally:
        sys.argv = old
        _finish_sweep()  # a sweep stopped by a failed job still gets its summary
