"""edge-agent: distributed resource optimisation for device fleets."""
