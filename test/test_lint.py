"""Linters as tests (as in ros2/demos): ruff with pycodestyle, pyflakes, isort, pydocstyle."""
import subprocess
import sys


def test_ruff_clean(repo):
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_xml_is_valid_format_3(repo):
    from catkin_pkg.package import parse_package

    pkg = parse_package(str(repo / "package.xml"))
    assert pkg.package_format == 3
    assert pkg.name == "semcomm_ros"
    deps = {d.name for d in pkg.build_depends + pkg.exec_depends + pkg.buildtool_depends}
    assert {"rclpy", "sensor_msgs", "rosidl_default_generators"} <= deps
