"""Everything that talks to an Ethereum node lives here (connection, contracts, events, the
development chain), plus the pure encodings between the rulebook's types and the contracts'
storage words."""
