#!/usr/bin/env python3
"""Provision a fleet's broker: ``edge-agent provision`` for a source checkout (same options).

    python broker/make_credentials.py --out /etc/mosquitto/edge-agent --fleet deploy/fleets/demo.yaml --host mqtt.lan

Users and roles, the ACL, a local CA with the broker's certificate and one folder per device to install on it;
see edge_agent/provision/ and broker/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, installed or not

from edge_agent.provision import main

if __name__ == "__main__":
    sys.exit(main())
