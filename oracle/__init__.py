"""The meter oracle: meter sources → per-slot energy → meter-signed readings → durable outbox →
relayed on-chain in batches. The oracle cannot forge: every reading carries its meter's signature,
which MeterReadings checks."""
