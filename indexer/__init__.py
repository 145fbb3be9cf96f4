"""The event index: every event of every deployed contract in typed SQL tables, checkpointed and
reorg-safe, rebuildable from the chain at any time (docs/decisions.md, "Event index")."""
