#!/usr/bin/env bash
# Run the whole test suite (installs what it needs: the virtualenv, Java for Spark's local mode,
# Chromium for the browser tests). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/system_packages.sh
source scripts/setup.sh
exec python -m pytest "$@"
