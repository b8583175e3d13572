"""One configuration schema for nodes, launch files, the CLI and benchmarks.

The schema is a tree of dataclasses; each library owns its part
(``CodecConfig`` in the codec, ``LinkConfig`` in the link estimator, ...).
This module maps that tree to and from two representations:

* the ROS 2 parameter-file YAML in ``config/semcomm.yaml`` (one section per
  node, ``ros__parameters`` inside, nested keys as in any ROS param file), and
* flat ``{"a.b.c": value}`` dictionaries, which is how ROS 2 parameters are
  named once declared on a node.

No ROS import here: the CLI and benchmarks read the same file without a graph.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from semcomm_ros.paths import SHARE

# Node names are also the section names in config/semcomm.yaml.
SOURCE_NODE = "semcomm_source"
ENCODER_NODE = "semcomm_encoder"
LINK_MONITOR_NODE = "semcomm_link_monitor"
DECODER_NODE = "semcomm_decoder"
RECORDER_NODE = "semcomm_recorder"
ALL_NODES = "**"  # the ROS 2 parameter-file wildcard section, "/**"

#: The shipped parameter file: config/ of the clone, or share/semcomm_ros/config of an install
DEFAULT_CONFIG = SHARE / "config" / "semcomm.yaml"
#: Fast DDS profile with a shared-memory segment large enough for raw images
FASTDDS_PROFILE = DEFAULT_CONFIG.parent / "fastdds.xml"


def dds_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with FASTDDS_DEFAULT_PROFILES_FILE set to our profile unless already set."""
    if not env.get("FASTDDS_DEFAULT_PROFILES_FILE") and FASTDDS_PROFILE.exists():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)
    return env


class ConfigError(ValueError):
    """A configuration file or value does not fit the schema."""


def describe(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: ``field(default=..., metadata=describe("..."))``."""
    return {"description": text, **extra}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (ROS 2 parameter naming)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def to_flat_params(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dataclass instance -> flat parameter dict with ROS-compatible values."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            flat.update(to_flat_params(value, name + "."))
        elif isinstance(value, tuple):
            flat[name] = list(value)
        else:
            flat[name] = value
    return flat


def leaf_fields(cls: type, prefix: str = "") -> dict[str, tuple[Any, dataclasses.Field]]:
    """Flat parameter name -> (type, dataclass field) for every leaf of a config class."""
    out: dict[str, tuple[Any, dataclasses.Field]] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out.update(leaf_fields(kind, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = (kind, f)
    return out


def field_descriptions(cls: type) -> dict[str, str]:
    """Flat parameter name -> description, for ROS parameter descriptors."""
    return {name: f.metadata.get("description", "") for name, (_, f) in leaf_fields(cls).items()}


def _coerce(name: str, kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true/false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)[:1]
        items = [_coerce(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    raise ConfigError(f"{name}: unsupported type {kind!r}")


def from_flat_params(cls: type, flat: dict[str, Any], prefix: str = "",
                     strict: bool = True) -> Any:
    """Build dataclass ``cls`` from a flat dict; missing keys keep defaults.

    With ``strict``, keys under ``prefix`` that the schema does not know raise
    ConfigError (a typo in a YAML file should not be silently ignored).
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            kwargs[f.name] = from_flat_params(kind, flat, name + ".", strict=False)
        elif name in flat:
            kwargs[f.name] = _coerce(name, kind, flat[name])
    if strict:
        known = {prefix + k for k in to_flat_params(cls())}
        unknown = sorted(k for k in flat if k.startswith(prefix) and k not in known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def load_sections(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameter file: node name -> flat parameter dict."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of node names")
    sections: dict[str, dict[str, Any]] = {}
    for node, body in raw.items():
        params = body.get("ros__parameters") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: section {node!r} needs a ros__parameters mapping")
        sections[str(node).lstrip("/")] = flatten(params)
    # "/**" holds parameters for every node (ROS 2 wildcard); a node's own section wins
    shared = sections.pop(ALL_NODES, {})
    return {node: {**shared, **params} for node, params in sections.items()}


def dump_yaml(sections: dict[str, Any], schema: dict[str, type],
              shared: tuple[str, ...] = ()) -> str:
    """ROS 2 parameter-file YAML of config objects, each parameter commented.

    ``sections`` maps node name -> config object, ``schema`` node name -> its
    class (for the descriptions); top-level fields named in ``shared`` go once
    into the ``/**`` section (they must be equal in all nodes that have them).
    """
    def scalar(value: Any) -> str:
        return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix(
            "\n...").strip()

    def emit(tree: dict[str, Any], docs: dict[str, str], prefix: str, indent: int) -> list[str]:
        lines = []
        for key, value in tree.items():
            pad = " " * indent
            if isinstance(value, dict):
                lines.append(f"{pad}{key}:")
                lines += emit(value, docs, f"{prefix}{key}.", indent + 2)
            else:
                doc = docs.get(prefix + key, "")
                lines.append(f"{pad}{key}: {scalar(value)}" + (f"  # {doc}" if doc else ""))
        return lines

    def nest(flat: dict[str, Any]) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for name, value in flat.items():
            *parents, leaf = name.split(".")
            sub = tree
            for p in parents:
                sub = sub.setdefault(p, {})
            sub[leaf] = value
        return tree

    out: list[str] = []
    common: dict[str, Any] = {}
    common_docs: dict[str, str] = {}
    per_node: dict[str, dict[str, Any]] = {}
    for node, obj in sections.items():
        flat = to_flat_params(obj)
        docs = field_descriptions(schema[node])
        own = {}
        for name, value in flat.items():
            if name.split(".")[0] in shared:
                common[name] = value
                common_docs[name] = docs.get(name, "")
            else:
                own[name] = value
        per_node[node] = own
    if common:
        out += [f"/{ALL_NODES}:", "  ros__parameters:"] + emit(nest(common), common_docs, "", 4)
    for node, own in per_node.items():
        out += [f"{node}:", "  ros__parameters:"]
        out += emit(nest(own), field_descriptions(schema[node]), "", 4)
    return "\n".join(out) + "\n"


def load_node_config(cls: type, node: str, path: str | Path | None = None,
                     overrides: dict[str, Any] | None = None) -> Any:
    """The dataclass for one node, from the YAML file plus flat overrides."""
    flat = dict(load_sections(path).get(node, {}))
    flat.update(overrides or {})
    return from_flat_params(cls, flat)
