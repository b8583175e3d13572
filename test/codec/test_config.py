"""CodecConfig validation and its mapping to ROS parameters."""
import pytest

from semcomm_ros.codec import CodecConfig
from semcomm_ros.config import ConfigError, from_flat_params, to_flat_params


def test_defaults_validate_and_round_trip_through_flat_params():
    cfg = CodecConfig()
    cfg.validate()
    flat = to_flat_params(cfg)
    assert flat["weights.class_priorities"][0] == "person=1.0"
    assert flat["texture.coder"] == "auto"
    back = from_flat_params(CodecConfig, flat)
    assert back == cfg


@pytest.mark.parametrize("key,value", [
    ("weights.class_priorities", ["person=2.0"]),
    ("weights.class_priorities", ["person"]),
    ("weights.roi", [0.1, 0.2]),
    ("texture.coder", "magic"),
    ("detector.backend", "tensorflow"),
    ("texture.min_quality", 0),
    ("weights.background", 1.5),
])
def test_bad_values_raise_config_error(key, value):
    with pytest.raises(ConfigError):
        from_flat_params(CodecConfig, {key: value})
