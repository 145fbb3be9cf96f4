"""Pure checks of SlotSettled's intent words (chain/intents.py); the contract's event is checked
against the same functions in tests/contracts/test_intents.py."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from chain.intents import Intent, intent_typed_data, sign_intent
from chain.signing import sign_typed_data

OWNER = to_checksum_address("0x" + "ab" * 20)


@pytest.mark.parametrize(
    "intent",
    [
        Intent(OWNER, 7, "buy", 600, 120_000, 0, 1_796_463_488),
        Intent(OWNER, 2**64 - 1, "sell", 2**40 - 1, 2**40 - 1, 2**192 - 1, 2**64 - 1),
    ],
)
def test_an_intent_comes_back_whole_from_its_order_word_and_aux_word(intent: Intent) -> None:
    back = Intent.of_settled(intent.slot, intent.order_word(), intent.event_aux())
    assert back == intent and back.id == intent.id


def test_another_epoch_or_deadline_is_another_id() -> None:
    intent = Intent(OWNER, 7, "buy", 600, 120_000, 1, 1_796_463_488)
    word = intent.order_word()
    assert Intent.of_settled(7, word, intent.event_aux() - (1 << 64)).id != intent.id
    assert Intent.of_settled(7, word, intent.event_aux() + 1).id != intent.id
    assert Intent.of_settled(8, word, intent.event_aux()).id != intent.id


def test_a_word_without_energy_holds_no_intent() -> None:
    with pytest.raises(ValueError, match="energy_wh"):
        Intent.of_settled(7, int(OWNER, 16), 0)


@pytest.mark.parametrize("chain_id", [1337, 11155111])
def test_signing_an_intent_by_its_id_is_signing_its_typed_data(chain_id: int) -> None:
    key = "0x" + "4c" * 32
    settlement = to_checksum_address("0x" + "5e" * 20)
    owner = Account.from_key(key).address
    for k, intent in enumerate(
        [
            Intent(owner, 7, "buy", 600, 120_000, 0, 1_796_463_488),
            Intent(owner, 2**64 - 1, "sell", 2**40 - 1, 2**40 - 1, 2**192 - 1, 2**64 - 1),
        ]
    ):
        typed = intent_typed_data(intent, chain_id, settlement)
        signature = sign_intent(intent, chain_id, settlement, key)
        assert signature == sign_typed_data(typed, key), k
        assert sign_intent(intent, chain_id, settlement, bytes.fromhex(key[2:])) == signature
        signed = encode_typed_data(full_message=typed)
        assert Account.recover_message(signed, signature=signature) == owner
    other = sign_intent(intent, chain_id, to_checksum_address("0x" + "5f" * 20), key)
    assert other != signature  # another contract is another domain
