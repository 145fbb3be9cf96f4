"""gridshare's own SQL stores: how an engine is opened (one home for the SQLite set-up)."""
