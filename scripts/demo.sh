#!/usr/bin/env bash
# The main job: set up, then run the demo fleet over a real Mosquitto, one OS process per device
# (IEEE 14-bus dispatch and a battery/boiler/PV sharing job), print the results and draw convergence.
set -euo pipefail
source "$(dirname "$0")/setup.sh" plot
mkdir -p out
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    .venv/bin/edge-agent fleet up deploy/fleets/demo.yaml --plot out/demo-convergence.png
else
    echo "[demo] no Mosquitto here (and it could not be installed): running the same jobs in-process" >&2
    .venv/bin/edge-agent fleet up deploy/fleets/demo.yaml --carrier inproc --plot out/demo-convergence.png
fi
