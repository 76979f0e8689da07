#!/bin/sh
# Creates a virtual environment with the official Python SDK, for the
# Python row of rstream-bench:
#
#   tests/bench/setup-python.sh [DIR]     (DIR defaults to target/bench-venv)
#   cargo run --release -p rstream-bench -- --python DIR/bin/python
set -eu
dir="${1:-target/bench-venv}"
python="${PYTHON:-python3}"
"$python" -m venv "$dir"
# The ASGI helper imports h11, which the package does not declare.
"$dir/bin/pip" install --quiet "rstreamlabs-rstream==0.7.0" h11
"$dir/bin/python" -c "import rstream.asgi"
echo "ready: --python $dir/bin/python"
