"""semcomm_ros.paths: data folders from the clone, or from the ament share dir of an install.

The colcon test (test/nodes/test_colcon_launch.py) checks a real install; this one needs no
ROS tools: a copy of the package outside any clone, and a minimal ament prefix.
"""
import os
import shutil
import subprocess
import sys

from semcomm_ros import paths
from semcomm_ros.codec.coco_onnx import detector_dirs
from semcomm_ros.config import DEFAULT_CONFIG
from semcomm_ros.reconstruction import SHIPPED_CHECKPOINT


def test_running_from_the_clone_uses_its_folders(repo):
    assert paths.source_tree() == repo and paths.SHARE == repo
    assert DEFAULT_CONFIG == repo / "config" / "semcomm.yaml"
    assert SHIPPED_CHECKPOINT == repo / "models" / "embedded_decoder"
    assert repo / "data" / "detectors" in detector_dirs()


def test_an_install_finds_its_share_dir_through_the_ament_index(repo, tmp_path):
    site = tmp_path / "lib" / "site-packages" / "semcomm_ros"
    site.mkdir(parents=True)
    shutil.copy(repo / "semcomm_ros" / "paths.py", site / "paths.py")
    (site / "__init__.py").write_text("")
    prefix = tmp_path / "prefix"
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "semcomm_ros").touch()
    (prefix / "share" / "semcomm_ros").mkdir()
    probe = "import semcomm_ros.paths as p; print(p.SHARE, p.source_tree())"
    env = {**os.environ, "PYTHONPATH": str(site.parent), "AMENT_PREFIX_PATH": str(prefix)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(prefix / "share" / "semcomm_ros"), "None"]
    # no ament prefix holding semcomm_ros: the folder above the package (for error messages)
    env["AMENT_PREFIX_PATH"] = str(tmp_path / "nothing")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(site.parent), "None"], out.stderr
