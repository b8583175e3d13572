#!/usr/bin/env bash
# The native ROS 2 tooling for the pip environment, idempotently (quick when done):
# a tool venv $SEMCOMM_CACHE/tools-ros2-<hash>, layered on the base venv like the clone's
# .venv (tools/venv_layer.py.in), holding
#   1. colcon (colcon-common-extensions from the package registry, requirements/tools-ros2.*);
#   2. launch, launch_ros, ros2cli (`ros2 launch/topic/param/...`) and rosidl_runtime_py,
#      the wheels in ../shared/ros-python/wheels (not on the registry), installed --no-deps
#      (they name ROS packages, e.g. ament_index_python, that the base venv holds as ros-*);
#   3. composition_interfaces (launch_ros imports it), built from ../shared/ros-python/src
#      with CMake + rosidl against the base venv as the ROS prefix, as tools/build_msgs.sh
#      builds our messages, and installed into the tool venv (RPATH set, ~30 s).
# Keyed by the hash of the pins, the wheels, the composition_interfaces source, this script
# and the base venv, so every clone on the machine reuses it. Prints the venv path last.
# Usage: tools/ros_tools.sh [ROS_PYTHON_DIR]   (default: ../shared/ros-python)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
CACHE=${SEMCOMM_CACHE:-/var/cache/semcomm}
SRC=$(cd "${1:-$here/../shared/ros-python}" && pwd)
BASE=$(cat "$here/.venv/.base")
log() { printf '[ros-tools] %s\n' "$*" >&2; }

[ -d "$SRC/wheels" ] && [ -f "$SRC/src/composition_interfaces/package.xml" ] \
  || { log "ERROR: no wheels or composition_interfaces source in $SRC" >&2; exit 1; }
key=$(cat requirements/tools-ros2.txt requirements/tools-ros2.lock tools/ros_tools.sh \
          tools/venv_layer.py.in <(echo "$BASE") <("$BASE/bin/python" -VV) \
          <(cd "$SRC" && find wheels src -type f | LC_ALL=C sort | xargs sha256sum) \
      | sha256sum | cut -c1-12)
TOOLS="$CACHE/tools-ros2-$key"
if [ -f "$TOOLS/.complete" ]; then
  echo "$TOOLS"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/tools-ros2.lock"
flock 9  # another clone may be building the same environment
if [ ! -f "$TOOLS/.complete" ]; then
  log "building $TOOLS (colcon, launch, ros2cli, composition_interfaces; ~1 min, once)"
  rm -rf "$TOOLS"
  "$BASE/bin/python" -m venv --without-pip "$TOOLS"
  pyver=$("$TOOLS/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  site=$("$TOOLS/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  sed "s#@BASE_SITE@#$BASE/lib/python$pyver/site-packages#" tools/venv_layer.py.in \
    > "$site/_semcomm_venv_layer.py"
  echo "import _semcomm_venv_layer" > "$site/00_semcomm_venv_layer.pth"
  # 1. colcon from the registry (pip comes from the base venv through the layer)
  "$TOOLS/bin/python" -m pip install --quiet -r requirements/tools-ros2.txt \
      -c requirements/tools-ros2.lock > "$TOOLS/pip.log" 2>&1 \
    || { tail -20 "$TOOLS/pip.log" >&2; log "ERROR: pip install of colcon failed" >&2; exit 1; }
  # 2. the launch / ros2cli wheels
  "$TOOLS/bin/python" -m pip install --quiet --no-deps "$SRC"/wheels/*.whl >> "$TOOLS/pip.log" 2>&1 \
    || { tail -20 "$TOOLS/pip.log" >&2; log "ERROR: pip install of $SRC/wheels failed" >&2; exit 1; }
  # 3. composition_interfaces, CMake + rosidl against the base venv
  build=$(mktemp -d)
  AMENT_PREFIX_PATH="$BASE" cmake -S "$SRC/src/composition_interfaces" -B "$build" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$BASE" -DCMAKE_INSTALL_PREFIX="$TOOLS" \
      -DCMAKE_INSTALL_RPATH="$TOOLS/lib;$BASE/lib" -DPython3_EXECUTABLE="$TOOLS/bin/python" \
      -DBUILD_TESTING=OFF > "$build/configure.log" 2>&1 \
    && cmake --build "$build" -j"$(nproc)" > "$build/build.log" 2>&1 \
    && cmake --install "$build" > "$build/install.log" 2>&1 \
    || { tail -30 "$build"/*.log >&2; log "ERROR: composition_interfaces build failed" >&2; exit 1; }
  rm -rf "$build"
  env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$TOOLS/bin/python" -c \
      "import colcon_core, ros2cli, launch_ros.actions, composition_interfaces.srv" \
    || { log "ERROR: $TOOLS is broken" >&2; exit 1; }
  touch "$TOOLS/.complete"
fi
echo "$TOOLS"
