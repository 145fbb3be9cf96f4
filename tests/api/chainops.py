"""What the oracle and the matcher's imbalance step do, driven directly on the test chain:
meter-signed readings relayed by the oracle, and settlement against meters up to a slot."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from chain.codec import decode_rules
from chain.metering import pack_reading_word, positions, trade_words
from chain.node import Node, Sender
from chain.signing import Reading, reading_typed_data, sign_typed_data
from chain.submission import clear_slot

ORACLE, MATCHER, DSO = 1, 2, 0


def _sender(node: Node, index: int) -> Sender:
    return Sender(str(node.w3.eth.accounts[index]))


def advance_to(node: Node, timestamp: int) -> None:
    gap = timestamp - node.block_timestamp()
    if gap > 0:
        node.make_request("evm_increaseTime", [gap])
    dso = node.w3.eth.accounts[DSO]
    node.w3.eth.send_transaction(
        {"from": dso, "to": dso, "value": 0, "gasPrice": node.gas_price_wei}  # type: ignore[typeddict-item]
    )


def submit_reading(node: Node, meter: LocalAccount, meter_id: bytes, reading: Reading) -> None:
    address = node.manifest.contracts["MeterReadings"]
    signature = sign_typed_data(
        reading_typed_data(reading, node.manifest.chain_id, address), meter.key
    )
    fn = node.contract("MeterReadings").functions.submitReadings([reading.as_tuple()], [signature])
    node.transact(fn, _sender(node, ORACLE))


def settle_imbalance_through(node: Node, slot: int) -> None:
    """Settle every slot's imbalance from ImbalanceSettlement.nextSlot up to `slot` (their trades
    must be settled and their reading deadlines passed)."""
    imbalance = node.contract("ImbalanceSettlement").functions
    book = node.contract("OrderBook").functions
    community = node.contract("Community").functions
    start = node.manifest.deployed_at_block
    for s in range(int(node.call(imbalance.nextSlot())), slot + 1):
        rules = decode_rules(node.call(community.tariffAt(s)))
        chain_book, _, sub = clear_slot(
            node.call(book.slotBook(s)), node.call(book.slotOrderIds(s)), rules
        )
        trades = trade_words(chain_book.entries, sub.fills)
        accepted = node.events(
            "MeterReadings", "ReadingAccepted", from_block=start, argument_filters={"slot": s}
        )
        words = [
            pack_reading_word(
                str(e["args"]["member"]), int(e["args"]["importWh"]), int(e["args"]["exportWh"])
            )
            for e in accepted
        ]
        members = [p.member for p in positions(words, trades)]
        node.transact(imbalance.settleImbalance(s, members, words, trades), _sender(node, MATCHER))
