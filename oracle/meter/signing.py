"""Signing a meter's readings: the one place where a reading gets its meter's signature.

A reading is EIP-712 typed data under MeterReadings' domain (chain.signing.reading_typed_data).
Its sequence number is its slot + 1, strictly increasing per meter as the contract requires, and
the same every time the reading is signed (signatures are deterministic), so signing again after
a crash is harmless. Everything that signs a reading (the meter signer, the simulator, the
benchmarks) calls `sign_reading`; a signature over a span of readings belongs here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

from chain.signing import Reading, reading_typed_data, sign_typed_data
from oracle.samples import meter_id
from oracle.slots import SlotEnergy


@dataclass(frozen=True, slots=True)
class Domain:
    """Where readings are verified: the EIP-712 domain meters sign under."""

    chain_id: int
    readings_address: str


def sequence_of(slot: int) -> int:
    """A reading's sequence number: its slot + 1, strictly increasing per meter as the
    contract requires, and the same every time the reading is signed."""
    return slot + 1


def sign_reading(energy: SlotEnergy, private_key: str, domain: Domain) -> dict[str, object]:
    """One slot's reading signed with its meter's key, as the relay's outbox stores it
    (oracle.outbox.add_readings)."""
    reading = Reading(
        meter_id(energy.meter),
        energy.slot,
        energy.import_wh,
        energy.export_wh,
        sequence_of(energy.slot),
    )
    data = reading_typed_data(reading, domain.chain_id, domain.readings_address)
    signature = sign_typed_data(data, private_key)
    return {
        "meter": energy.meter,
        "slot": energy.slot,
        "import_wh": energy.import_wh,
        "export_wh": energy.export_wh,
        "sequence": reading.sequence,
        "signature": "0x" + signature.hex(),
    }


class MeterSigner:
    """One meter's key, signing that meter's readings and no other's."""

    def __init__(self, meter: str, private_key: str, domain: Domain) -> None:
        meter_id(meter)
        self.meter = meter
        self._key = private_key
        self.domain = domain
        self.address = str(Account.from_key(private_key).address)

    def sign(self, energy: SlotEnergy) -> dict[str, object]:
        if energy.meter != self.meter:
            raise ValueError(f"the signer of meter {self.meter} cannot sign for {energy.meter}")
        return sign_reading(energy, self._key, self.domain)
