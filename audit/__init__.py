"""The auditor: rebuilds the market from chain events alone and checks every rule."""
