"""Declare a configuration dataclass as ROS 2 parameters, and read it back.

Every leaf of the dataclass tree becomes one parameter (dotted name) with a
descriptor carrying its description and type; values from a parameter file
(``--ros-args --params-file config/semcomm.yaml``) override the defaults.
Changes at run time are validated through the same schema before they are
accepted, then applied (:func:`watch_config`).
"""
from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from semcomm_ros.config import (
    ConfigError,
    field_descriptions,
    from_flat_params,
    leaf_fields,
    to_flat_params,
)

_ARRAY_TYPES = {
    str: (ParameterType.PARAMETER_STRING_ARRAY, Parameter.Type.STRING_ARRAY),
    int: (ParameterType.PARAMETER_INTEGER_ARRAY, Parameter.Type.INTEGER_ARRAY),
    float: (ParameterType.PARAMETER_DOUBLE_ARRAY, Parameter.Type.DOUBLE_ARRAY),
    bool: (ParameterType.PARAMETER_BOOL_ARRAY, Parameter.Type.BOOL_ARRAY),
}


def declare_config(node: Node, cls: type) -> Any:
    """Declare all parameters of ``cls`` on ``node``; return the resulting config."""
    defaults = to_flat_params(cls())
    docs = field_descriptions(cls)
    types = {name: kind for name, (kind, _) in leaf_fields(cls).items()}
    for name, value in defaults.items():
        descriptor = ParameterDescriptor(name=name, description=docs.get(name, ""))
        if isinstance(value, list):
            item = (typing.get_args(types[name]) or (str,))[0]
            descriptor.type, ptype = _ARRAY_TYPES[item]
            if not value:  # an empty list has no type of its own: declare by type
                node.declare_parameter(name, ptype, descriptor)
                continue
        elif isinstance(value, float):
            # accept integers in YAML for float parameters (e.g. `rate_hz: 10`)
            descriptor.dynamic_typing = True
        node.declare_parameter(name, value, descriptor)
    return read_config(node, cls)


def _current(node: Node, names: list[str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name in names:
        try:
            value = node.get_parameter(name).value
        except ParameterUninitializedException:  # an empty list declared by type only
            continue
        if value is not None:
            flat[name] = list(value) if isinstance(value, (list, tuple)) else value
    return flat


def read_config(node: Node, cls: type) -> Any:
    """Build ``cls`` from the node's current parameter values."""
    names = list(to_flat_params(cls()).keys())
    return from_flat_params(cls, _current(node, names))


def watch_config(node: Node, cls: type, apply: Callable[[Any], None],
                 check: Callable[[Any, Any], str | None] | None = None) -> None:
    """Live parameters: validate a change in the on-set callback, apply it in the post-set one.

    On set, the new values are merged with the current ones and built into ``cls``
    (its own ``validate`` runs); a ConfigError rejects the change with its message.
    ``check(old, new)`` may reject a change that is valid but cannot take effect while
    the node runs, by returning the reason (say, a source file being played). Once
    rclpy has stored the values, ``apply(new)`` puts them into effect; if that fails
    the error is logged (the values are already set, so the node keeps the parts it
    could apply and says which failed).
    """
    names = list(to_flat_params(cls()).keys())
    state = {"config": read_config(node, cls), "pending": None}

    def on_set(params: list[Parameter]) -> SetParametersResult:
        flat = _current(node, names)
        for p in params:
            if p.name in flat or p.name in names:
                flat[p.name] = list(p.value) if isinstance(p.value, (list, tuple)) else p.value
        try:
            config = from_flat_params(cls, flat)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        reason = check(state["config"], config) if check else None
        if reason:
            return SetParametersResult(successful=False, reason=f"cannot apply live: {reason}")
        state["pending"] = config
        return SetParametersResult(successful=True)

    def post_set(params: list[Parameter]) -> None:
        config, state["pending"] = state["pending"], None
        if config is None:
            return
        try:
            apply(config)
        except Exception as exc:  # noqa: BLE001 - keep serving; say what did not apply
            node.get_logger().error(f"parameter change not fully applied: "
                                    f"{type(exc).__name__}: {exc}")
        state["config"] = config

    node.add_on_set_parameters_callback(on_set)
    node.add_post_set_parameters_callback(post_set)


def changed(old: Any, new: Any, *sections: str) -> bool:
    """True when any of the named top-level sections differs between two configs."""
    return any(getattr(old, s) != getattr(new, s) for s in sections)
