"""Distributed algorithms. They talk only to :class:`edge_agent.carrier.Carrier`; none imports a transport."""
