"""The semantic codec: detection, weight map, layered bitstream, composition decoder.

No ROS inside: the nodes in ``semcomm_ros.nodes`` copy :class:`CodedFrame`
fields to and from ``WeightedSemantics`` messages.

    enc = SemanticEncoder(CodecConfig())
    frame = enc.encode(image_bgr, byte_budget=6000, sequence=n)
    out = CompositionDecoder(CodecConfig()).decode(frame)
"""
from semcomm_ros.codec.config import (
    CodecConfig,
    DetectorConfig,
    LimitsConfig,
    RateConfig,
    TextureConfig,
    WeightConfig,
)
from semcomm_ros.codec.decoder import CompositionDecoder, DecodedFrame
from semcomm_ros.codec.detect import Detection, Detector, DetectorError, make_detector
from semcomm_ros.codec.encoder import EncoderInputError, SemanticEncoder
from semcomm_ros.codec.frame import (
    FORMAT_VERSION,
    LEVEL_BACKGROUND,
    LEVEL_FULL,
    LEVEL_OBJECTS,
    LEVEL_SEMANTIC,
    BitstreamError,
    CodedFrame,
    CodedObject,
    MissingReference,
    ReferenceMismatch,
)

__all__ = [
    "FORMAT_VERSION", "LEVEL_BACKGROUND", "LEVEL_FULL", "LEVEL_OBJECTS", "LEVEL_SEMANTIC",
    "BitstreamError", "CodecConfig", "CodedFrame", "CodedObject", "CompositionDecoder",
    "DecodedFrame", "Detection", "Detector", "DetectorConfig", "DetectorError",
    "EncoderInputError", "LimitsConfig", "MissingReference", "RateConfig", "ReferenceMismatch",
    "SemanticEncoder", "TextureConfig",
    "WeightConfig", "make_detector",
]
