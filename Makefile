# semcomm_ros - the two commands:
#   make demo   runs the sample bag through the node graph (output: out/demo/)
#   make test   runs the test suite
# Both set up what they need first (tools/setup_env.sh: venv, ROS 2 wheels,
# message build, sample data), idempotently.
.PHONY: setup test demo lint clean

PY := .venv/bin/python

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest

demo: setup
	.venv/bin/semcomm demo --out out/demo

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf build out .venv .pytest_cache
