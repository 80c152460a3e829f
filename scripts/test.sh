#!/usr/bin/env bash
# The checks: set up with the dev extras, then lint, type-check and run every test.
set -euo pipefail
source "$(dirname "$0")/setup.sh" dev
echo "== ruff" && .venv/bin/ruff check edge_agent tests bench
echo "== mypy" && .venv/bin/mypy
echo "== pytest" && .venv/bin/python -m pytest "$@"
