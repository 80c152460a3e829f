"""``python -m edge_agent.provision``: the same as ``edge-agent provision``."""

import sys

from edge_agent.provision.command import main

sys.exit(main())
