#!/usr/bin/env bash
# Build msg/*.msg with rosidl, using the same CMakeLists.txt as a native
# `colcon build`, and install the generated semcomm_ros.msg into .venv.
# Skipped when msg/, CMakeLists.txt and package.xml are unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
VENV="$here/.venv"
BASE=$(cat "$VENV/.base")
stamp="$VENV/.msgs-built"
key=$(cat msg/*.msg CMakeLists.txt package.xml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && \
   "$VENV/bin/python" -c 'from semcomm_ros.msg import WeightedSemantics' 2>/dev/null; then
  echo "[msgs] up to date"
  exit 0
fi
echo "[msgs] building messages with rosidl (CMake)"
build="$here/build/msgs"
rm -rf "$build"
mkdir -p "$build"
export AMENT_PREFIX_PATH="$BASE${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# The generated Python extensions find their libraries through RPATH, so no
# LD_LIBRARY_PATH entry is needed at run time for our own messages.
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$BASE" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DCMAKE_INSTALL_RPATH="$VENV/lib;$BASE/lib" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  -DSEMCOMM_INSTALL_PYTHON=OFF > "$build/configure.log" 2>&1 \
  || { tail -40 "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" > "$build/build.log" 2>&1 \
  || { tail -40 "$build/build.log"; exit 1; }
cmake --install "$build" > "$build/install.log" 2>&1 \
  || { tail -40 "$build/install.log"; exit 1; }
echo "$key" > "$stamp"
echo "[msgs] installed into $VENV"
