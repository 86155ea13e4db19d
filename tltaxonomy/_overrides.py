"""Check the Hydra overrides of ``tltax run`` before Hydra composes them, so that a misspelling gets one
paragraph naming the closest valid choice (and listing them all), not Hydra's stack trace or its
multi-line search-path report.

Checked: a config group's option (``strategy=corall``, ``dataset=offce_caltech_surf``,
``pretrain=sorce``, each value of a sweep ``strategy=coral,sa``), a key of the selected option
(``strategy.regg=1``, ``strategy.n_component=5``) and a top-level key (``sed=0``). Values of plain keys
(``task=A_to_X``) are checked where they are used (the dataset registry), with the same kind of message.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ._errors import ConfigError, unknown_name_error

__all__ = ["check_overrides"]

#: Hydra flags that take the next token as their value
_FLAGS_WITH_VALUE = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "-p", "--package",
                     "--experimental-rerun", "-i", "--info"}
#: flags that point Hydra at another config: the overrides are then not ours to check
_OTHER_CONFIG = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "--experimental-rerun"}
#: the group names that read well as "Unknown <group> 'x'. Valid <group>s: ..."
_NOUNS = {"strategy", "dataset", "backbone", "experiment"}


def _options(group_dir: Path) -> list[str]:
    return sorted(p.stem for p in group_dir.glob("*.yaml"))


def _load(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _sweep_values(value: str) -> list[str] | None:
    """The values of ``a,b,c`` (a plain sweep); ``None`` for sweep functions (``choice(...)``, ``glob(...)``)."""
    if any(c in value for c in "()[]{}$"):
        return None
    return [v.strip() for v in value.split(",")]


def _kind(group: str) -> str:
    return group if group in _NOUNS else f"{group} choice"


def check_overrides(args: list[str], conf_dir: str | Path) -> None:
    """Raise :class:`~tltaxonomy._errors.ConfigError` (a misspelt key) or
    :class:`~tltaxonomy._errors.UnknownNameError` (a misspelt group option) for the first bad override.

    Parameters
    ----------
    args : list of str
        The arguments of ``tltax run`` (Hydra flags such as ``-m`` are skipped).
    conf_dir : path
        The directory of ``config.yaml`` and the config groups.
    """
    conf_dir = Path(conf_dir)
    root = _load(conf_dir / "config.yaml")
    if root is None:
        return
    groups = {p.name for p in conf_dir.iterdir() if p.is_dir()}
    selected: dict[str, list[str]] = {}
    for entry in root.get("defaults") or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key in groups and isinstance(value, str):
                    selected[key] = [value]
    overrides, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        if arg.startswith("-"):
            flag = arg.split("=", 1)[0]
            if flag in _OTHER_CONFIG:
                return
            skip_next = flag in _FLAGS_WITH_VALUE and "=" not in arg
            continue
        overrides.append(arg)

    keyed: list[tuple[str, str]] = []
    for override in overrides:
        if override.startswith("~"):
            continue
        appended = override.startswith("+")
        key, sep, value = override.lstrip("+").partition("=")
        if not sep or key.startswith("hydra") or "@" in key or "/" in key:
            continue
        if key in groups:
            values = _sweep_values(value)
            if values is None:
                continue
            options = _options(conf_dir / key)
            for v in values:
                if v not in options and v not in ("null", "none"):
                    raise unknown_name_error(_kind(key), v, options)
            selected[key] = values
        elif not appended:
            keyed.append((key, override))

    top_level = (set(root) - {"defaults"}) | groups
    for key, override in keyed:
        head, _, rest = key.partition(".")
        if head not in top_level:
            err = unknown_name_error("config key", head, sorted(top_level))
            raise ConfigError(f"{override}: {err} (Add a new key with +{key}=... only if it is meant to be new.)")
        if head not in groups or not rest:
            continue
        param = rest.split(".", 1)[0]
        for option in selected.get(head, []):
            path = conf_dir / head / f"{option}.yaml"
            config = _load(path)
            if config is None or "defaults" in config or "@package" in path.read_text():  # composed or moved
                continue  # elsewhere: Hydra checks it
            keys = sorted(str(k) for k in config if not str(k).startswith("_"))  # _target_ & co: valid, not suggested
            if param not in config:
                err = unknown_name_error("hyper-parameter" if head == "strategy" else "key", param, keys)
                raise ConfigError(
                    f"{override}: {head}={option}: {err} (A constructor argument that the config does not list "
                    f"is added with +{key}=...)"
                )
