#!/usr/bin/env bash
# The Python package's check, for .ci/run: a fresh venv, the pinned tools
# from PyPI, `pip install ./python` (the release build of the extension,
# as a user gets it), then the pytest suite, which compares every call
# with the command line's binary (built here when missing).
#
#     bash python/ci.sh [VENV_DIR]      (default: target/python-ci-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-${CARGO_TARGET_DIR:-target}/python-ci-venv}"

python3 -m venv "$venv"
# maturin's build backend runs the `maturin` of the PATH: the venv's.
export PATH="$(cd "$venv" && pwd)/bin:$PATH"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-dev.txt
# The Spark recipe's test runs where a Java runtime is installed (it is
# skipped, and pyspark not downloaded, where there is none).
if command -v java >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-spark.txt
fi
# The extension is built by maturin through pip, into the Cargo target
# folder shared with the rest of the build.
# No build isolation: the pinned maturin above builds it.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation ./python

binary="${SECOND_OPINION_BIN:-${CARGO_TARGET_DIR:-target}/release/second-opinion}"
if [ -z "${SECOND_OPINION_BIN:-}" ]; then
    # Up to date with this checkout (a no-op when it is): a binary left
    # by an older build would compare the package with another version.
    cargo build --release --locked --bin second-opinion
fi
# Absolute: the tests run the binary from temporary folders of their own.
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
SECOND_OPINION_BIN="$binary" "$venv/bin/python" -m pytest -q python/tests
