"""The community simulation: a declarative community, real load and PV profiles, agents, a
runner that trades through the real contracts, and the report against business as usual."""
