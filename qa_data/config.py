"""Typed configs: dataclasses filled from YAML presets and `key=value` CLI overrides.

Every stage of the project describes its settings as a dataclass. A preset YAML in `configs/`
fills it, CLI overrides (`train.lr=1e-4`) are applied on top, unknown keys and wrong types raise,
and the resolved config is saved next to every output.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit its dataclass."""


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Builds `cls` from its defaults, then the YAML at `path`, then `key=value` overrides."""
    data = None
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
        data = read_yaml(path)
        if not data:  # an empty file would silently mean the built-in defaults (the paper-sized presets)
            raise ConfigError(f"{path}: the config file holds no settings; name a preset (configs/) or put the "
                              "settings to change in it")
    return config_from_dict(cls, data, overrides, source=str(path) if path is not None else "defaults")


def read_yaml(path: str | Path) -> Any:
    """A YAML file's plain data (safe_load: no tags that build objects); ConfigError naming the file otherwise."""
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not a plain YAML config ({' '.join(str(e).split())[:300]})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file ({e.reason})") from None


def config_from_dict(cls: type[T], data: dict | None, overrides: Sequence[str] = (), source: str = "config") -> T:
    """Builds `cls` from its defaults, then the mapping `data` (e.g. a config saved in a checkpoint),
    then `key=value` overrides. `source` names the origin of `data` in errors."""
    schema = OmegaConf.structured(cls)
    layers = []
    try:
        if data is not None:
            if not isinstance(data, dict):
                raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
            layers.append(OmegaConf.create(data))
        if overrides:
            source = f"overrides {list(overrides)}"
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise ConfigError(f"overrides must be key=value, got {bad}")
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(schema, *layers)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as e:
        cause = e.__cause__ if isinstance(e.__cause__, (ValueError, TypeError)) else None
        text = str(cause) if cause is not None else str(e)  # a field check of a config's __post_init__
        raise ConfigError(f"{source}: {text}".splitlines()[0] + f" (config class {cls.__name__})") from e
    except (ValueError, TypeError) as e:  # raised by a config's own field checks (__post_init__)
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{source}: {e} (config class {cls.__name__})") from e


def require_min(section: str, obj: Any, minimum: dict[str, float]) -> None:
    """A config's field check: raises ValueError naming `section.field` for a value below its minimum."""
    for name, low in minimum.items():
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
            raise ValueError(f"{section}.{name} must be a number >= {low}, got {value!r}")


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (for YAML, JSON, HDF5 attributes, checkpoints)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Writes the resolved config as YAML."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(config_to_dict(cfg), f, sort_keys=False)


def flat_hparams(d: dict, prefix: str = "") -> dict:
    """A nested config dict flattened to `a.b.c` keys with scalar values (TensorBoard hparams)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_hparams(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out
