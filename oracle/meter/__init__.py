"""The meter side of the oracle: what runs where a meter is, with that one meter's key.

`gridshare meter run` reads the meter's source (P1 port, dongle, capture file), checks each
sample, derives slot energy and signs each slot's reading with the meter's key
(`signing.sign_reading`, the one place a reading is signed), then hands it to the relay through
the relay's outbox (oracle/outbox.py). The relay (oracle/relay.py, `gridshare oracle run`)
never imports this package: it holds the oracle account's key only.
"""
