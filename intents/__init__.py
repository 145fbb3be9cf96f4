"""Signed order intents between their signature and their slot's settlement (intents.pool)."""
