"""The matcher service: after each slot's gate closure it reads the slot's book from the chain,
clears it with the rulebook (market.clearing) and submits the settlement (chain.node). It keeps no
state of its own: where to start and what is left to do are read from the chain on every start."""
