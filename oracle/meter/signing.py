"""Signing a meter's readings: the one place where a reading gets its meter's signature.

A reading is EIP-712 typed data under MeterReadings' domain (chain.signing.reading_typed_data).
Its sequence number is its slot + 1, strictly increasing per meter as the contract requires, and
the same every time the reading is signed (signatures are deterministic), so signing again after
a crash is harmless. Everything that signs a reading (the meter signer, the simulator, the
benchmarks) calls `sign_reading`, or `sign_span` for a span: the readings of consecutive slots
(e.g. a day) signed once (chain.signing.ReadingSpan), each slot's reading with the same sequence
number as when signed alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account import Account

from chain.signing import (
    Reading,
    ReadingSpan,
    reading_span_typed_data,
    reading_typed_data,
    sign_typed_data,
)
from oracle.outbox import encode_energy
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


def _reading(energy: SlotEnergy) -> Reading:
    """The reading a meter signs for one slot's energy, alone or in a span."""
    return Reading(
        meter_id(energy.meter),
        energy.slot,
        energy.import_wh,
        energy.export_wh,
        sequence_of(energy.slot),
    )


def _signature(data: dict[str, object], private_key: str) -> str:
    """`data` (EIP-712 typed data) signed with `private_key`, as the outbox stores it (0x-hex)."""
    return "0x" + sign_typed_data(data, private_key).hex()


def sign_reading(energy: SlotEnergy, private_key: str, domain: Domain) -> dict[str, object]:
    """One slot's reading signed with its meter's key, as the relay's outbox stores it
    (oracle.outbox.add_readings)."""
    reading = _reading(energy)
    data = reading_typed_data(reading, domain.chain_id, domain.readings_address)
    return {
        "meter": energy.meter,
        "slot": energy.slot,
        "import_wh": energy.import_wh,
        "export_wh": energy.export_wh,
        "sequence": reading.sequence,
        "signature": _signature(data, private_key),
    }


def sign_span(
    energies: Sequence[SlotEnergy], private_key: str, domain: Domain
) -> dict[str, object]:
    """One meter's readings of consecutive slots signed once, as the relay's outbox stores the
    span (oracle.outbox.add_spans). Refuses an empty span, another meter's reading or a gap."""
    if not energies:
        raise ValueError("a span needs at least one reading")
    first = energies[0]
    readings = [_reading(e) for e in energies]
    if any(e.meter != first.meter for e in energies):
        raise ValueError(f"a span holds one meter's readings (first: {first.meter})")
    span = ReadingSpan.of(readings)  # refuses a gap in the slots
    data = reading_span_typed_data(span, domain.chain_id, domain.readings_address)
    return {
        "meter": first.meter,
        "first_slot": span.first_slot,
        "first_sequence": span.first_sequence,
        "slots": len(energies),
        "energy": encode_energy(span.energy),
        "signature": _signature(data, private_key),
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

    def sign_span(self, energies: Sequence[SlotEnergy]) -> dict[str, object]:
        if any(e.meter != self.meter for e in energies):
            raise ValueError(f"the signer of meter {self.meter} signs only its own readings")
        return sign_span(energies, self._key, self.domain)
