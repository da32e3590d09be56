#!/usr/bin/env bash
# Start the Retail Pulse dashboard on http://localhost:8501 (installs what it needs on first run;
# the dashboard builds a demo warehouse on first start when none exists).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec python -m streamlit run dashboard/serve.py "$@"
