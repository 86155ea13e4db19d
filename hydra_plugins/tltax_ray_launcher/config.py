"""The ``hydra/launcher=ray`` config (registered in Hydra's ConfigStore when Hydra scans its plugins)."""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.tltax_ray_launcher.ray_launcher.RayLauncher"

    # null: start a local Ray instance for the sweep (and stop it after);
    # "auto": join the Ray cluster this machine belongs to (`ray start --head` / a cluster node);
    # "ray://HOST:10001": connect to a remote cluster through Ray Client.
    address: Optional[str] = None

    # CPUs of the local instance (null: all of this machine's). Ignored when joining a cluster.
    num_cpus: Optional[int] = None

    # further keyword arguments of ray.init (e.g. runtime_env, object_store_memory, namespace)
    init: Dict[str, Any] = field(default_factory=dict)

    # resources of each job, the keyword arguments of ray.remote (num_cpus, num_gpus, memory, max_retries ...)
    remote: Dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1})


ConfigStore.instance().store(
    group="hydra/launcher",
    name="ray",
    node=RayLauncherConf,
    provider="tltaxonomy",
)
