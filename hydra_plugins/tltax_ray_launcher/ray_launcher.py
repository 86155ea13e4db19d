"""The launcher: each job of a batch is ``hydra.core.utils.run_job`` inside a ``ray.remote`` task."""

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


def _execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: Dict[Any, Any],
) -> JobReturn:
    """Run one job in a Ray worker (the same steps as hydra-joblib-launcher's ``execute_job``)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


class RayLauncher(Launcher):
    def __init__(
        self,
        address: Optional[str] = None,
        num_cpus: Optional[int] = None,
        init: Optional[Dict[str, Any]] = None,
        remote: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.init = _plain(init)
        self.remote = _plain(remote)
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def _start(self) -> bool:
        """Start (or join) Ray; True when this launcher started it and must stop it."""
        import ray

        if ray.is_initialized():
            return False
        kwargs = {"include_dashboard": False, "log_to_driver": True, **self.init}
        if self.address not in (None, "", "local"):
            kwargs["address"] = self.address  # join a cluster: its size is the cluster's
        elif self.num_cpus is not None:
            kwargs["num_cpus"] = int(self.num_cpus)
        log.info(f"Starting Ray: ray.init({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})")
        ray.init(**kwargs)
        return self.address in (None, "", "local")

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import ray

        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Ray launcher is launching {len(job_overrides)} jobs, sweep output dir: {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")

        started = self._start()
        try:
            task = ray.remote(**self.remote)(_execute_job) if self.remote else ray.remote(_execute_job)
            # large, shared arguments go to the object store once, not once per job
            context = ray.put(self.hydra_context)
            config = ray.put(self.config)
            function = ray.put(self.task_function)
            singleton_state = ray.put(Singleton.get_state())
            refs = [
                task.remote(initial_job_idx + idx, list(overrides), context, config, function, singleton_state)
                for idx, overrides in enumerate(job_overrides)
            ]
            runs: List[JobReturn] = ray.get(refs)
        finally:
            if started:
                ray.shutdown()
        for run in runs:
            assert isinstance(run, JobReturn)
        return runs


def _plain(node: Any) -> Dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]
    return dict(node)
