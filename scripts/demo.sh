#!/usr/bin/env bash
# The main job: set up, then solve the example scenarios and print their results.
set -euo pipefail
source "$(dirname "$0")/setup.sh" plot
mkdir -p out
for scenario in scenarios/*.yaml; do
    .venv/bin/edge-agent solve "$scenario"
    echo
done
