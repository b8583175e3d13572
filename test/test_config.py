from dataclasses import dataclass, field

import pytest
import yaml

from semcomm_ros.config import (
    ConfigError,
    describe,
    flatten,
    from_flat_params,
    load_node_config,
    load_sections,
    to_flat_params,
)


@dataclass
class Inner:
    rate: float = field(default=1.5, metadata=describe("a rate"))
    names: list[str] = field(default_factory=lambda: ["a=1"])

    def validate(self) -> None:
        if self.rate < 0:
            raise ConfigError("rate must be >= 0")


@dataclass
class Outer:
    topic: str = "/x"
    depth: int = 1
    on: bool = True
    inner: Inner = field(default_factory=Inner)


def test_flatten_nested_mapping_uses_dotted_names():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": 2}) == {"a.b": 1, "a.c.d": "x", "e": 2}


def test_round_trip_through_flat_params():
    cfg = Outer(topic="/y", depth=3, inner=Inner(rate=2.0, names=["b=2"]))
    flat = to_flat_params(cfg)
    assert flat["inner.rate"] == 2.0 and flat["inner.names"] == ["b=2"]
    assert from_flat_params(Outer, flat) == cfg


def test_int_accepted_for_float_but_not_the_reverse():
    assert from_flat_params(Outer, {"inner.rate": 3}).inner.rate == 3.0
    with pytest.raises(ConfigError, match="depth"):
        from_flat_params(Outer, {"depth": 1.5})
    with pytest.raises(ConfigError, match="on"):
        from_flat_params(Outer, {"on": 1})


def test_unknown_key_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="inner.rat"):
        from_flat_params(Outer, {"inner.rat": 1.0})


def test_nested_validate_runs():
    with pytest.raises(ConfigError, match="rate"):
        from_flat_params(Outer, {"inner.rate": -1.0})


def test_load_sections_reads_ros_param_file(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump({"/node_a": {"ros__parameters": {"depth": 4,
                                                                  "inner": {"rate": 0.5}}}}))
    assert load_sections(p) == {"node_a": {"depth": 4, "inner.rate": 0.5}}
    cfg = load_node_config(Outer, "node_a", p, overrides={"topic": "/z"})
    assert (cfg.depth, cfg.inner.rate, cfg.topic) == (4, 0.5, "/z")


@pytest.mark.parametrize("text", ["- a\n- b\n", "node: {foo: 1}\n", "node: [\n"])
def test_malformed_files_give_config_error(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError):
        load_sections(p)


def test_shipped_config_matches_the_schema(repo):
    """Every section of config/semcomm.yaml builds its node's config without error."""
    from semcomm_ros import node_config as nc

    sections = load_sections(repo / "config" / "semcomm.yaml")
    schema = nc.NODE_SCHEMA
    assert set(sections) == set(schema)
    for node, cls in schema.items():
        load_node_config(cls, node, repo / "config" / "semcomm.yaml")


def test_shipped_config_is_the_schema_defaults(repo):
    """Defaults live in one place: the file is a rendering of the dataclasses."""
    from semcomm_ros.config import dump_yaml
    from semcomm_ros.node_config import NODE_SCHEMA

    rendered = dump_yaml({n: cls() for n, cls in NODE_SCHEMA.items()}, NODE_SCHEMA,
                         shared=("topics", "qos"))
    shipped = (repo / "config" / "semcomm.yaml").read_text()
    body = "\n".join(line for line in shipped.splitlines() if not line.startswith("#")) + "\n"
    assert body == rendered, "config/semcomm.yaml is stale: semcomm config --defaults"
