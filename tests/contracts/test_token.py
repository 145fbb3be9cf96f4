"""Unit tests of EnergyToken: the prepaid euro (9 decimals, minted on top-up, burned on redeem)."""

from __future__ import annotations

from typing import Any

import pytest
from brownie import chain, web3
from eth_account import Account
from eth_account.messages import encode_typed_data
from hexbytes import HexBytes

from chain.codec import pack_transfer
from tests.contracts.conftest import EUR, MEMBER_KEYS
from tests.contracts.helpers import reverts_exact, reverts_with

ZERO = "0x" + "00" * 20
CONSUMER = 1  # MemberRole.Consumer
ZERO32 = b"\0" * 32


# ------------------------------------------------------------------------------------ helpers


def _b32(value: Any) -> bytes:
    return bytes(HexBytes(value))


def _permit_signature(
    token: Any,
    signer_key: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
    owner: str | None = None,
) -> tuple[int, bytes, bytes]:
    """Sign an ERC-2612 Permit; `owner` defaults to the signer's own address."""
    owner = owner or Account.from_key(signer_key).address
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "gridshare prepaid euro",
            "version": "1",
            "chainId": chain.id,
            "verifyingContract": token.address,
        },
        "message": {
            "owner": owner,
            "spender": str(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=signer_key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


@pytest.fixture(scope="module", autouse=True)
def _members(community: Any, dso: Any, alice: Any, bob: Any, carol: Any, dave: Any) -> None:
    """Alice, Bob, Carol and Dave are members (with no tokens yet): only members, and the DSO's
    own accounts, may receive a top-up."""
    for account in (alice, bob, carol, dave):
        community.registerMember(account, CONSUMER, 0, {"from": dso})


# ------------------------------------------------------------------------------------ metadata


def test_metadata_and_initial_state(token: Any, dso: Any, book: Any) -> None:
    assert token.decimals() == 9
    assert token.name() == "gridshare prepaid euro"
    assert token.symbol() == "gEUR"
    assert token.totalSupply() == 0
    assert token.totalMinted() == 0
    assert token.totalRedeemed() == 0
    assert _b32(token.TREASURER_ROLE()) == bytes(web3.keccak(text="TREASURER_ROLE"))
    assert _b32(token.MARKET_ROLE()) == bytes(web3.keccak(text="MARKET_ROLE"))
    assert token.hasRole(ZERO32, dso)
    assert token.hasRole(token.TREASURER_ROLE(), dso)
    assert token.hasRole(token.MARKET_ROLE(), book)
    assert not token.hasRole(token.MARKET_ROLE(), dso)


# ------------------------------------------------------------------------------------ top-up


def test_top_up_mints_records_and_emits(token: Any, dso: Any, alice: Any, ref: Any) -> None:
    tx = token.topUp(alice, 25 * EUR, ref("bank-0001"), {"from": dso})
    assert token.balanceOf(alice) == 25 * EUR
    assert token.totalSupply() == 25 * EUR
    assert token.totalMinted() == 25 * EUR
    assert token.topUpRecorded(ref("bank-0001"))
    assert not token.topUpRecorded(ref("bank-0002"))
    event = tx.events["TopUp"]
    assert event["member"] == alice
    assert event["amount"] == 25 * EUR
    assert _b32(event["paymentRef"]) == ref("bank-0001")
    transfer = tx.events["Transfer"]
    assert transfer["from"] == ZERO
    assert transfer["to"] == alice
    assert transfer["value"] == 25 * EUR

    token.topUp(alice, 3, ref("bank-0002"), {"from": dso})
    assert token.balanceOf(alice) == 25 * EUR + 3
    assert token.totalMinted() == 25 * EUR + 3


def test_top_up_only_treasurer(
    token: Any, dso: Any, outsider: Any, alice: Any, bob: Any, ref: Any
) -> None:
    role = token.TREASURER_ROLE()
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(role)):
        token.topUp(outsider, EUR, ref("forged"), {"from": outsider})
    with reverts_with("AccessControlUnauthorizedAccount"):
        token.topUp(alice, EUR, ref("forged"), {"from": alice})
    assert token.totalSupply() == 0
    assert not token.topUpRecorded(ref("forged"))

    # The role, not the address, is what counts: grant it and the top-up goes through.
    token.grantRole(role, outsider, {"from": dso})
    token.topUp(bob, EUR, ref("forged"), {"from": outsider})
    assert token.balanceOf(bob) == EUR
    token.revokeRole(role, outsider, {"from": dso})
    with reverts_with("AccessControlUnauthorizedAccount"):
        token.topUp(bob, EUR, ref("forged-2"), {"from": outsider})
    assert token.totalMinted() == EUR


def test_top_up_zero_amount(token: Any, dso: Any, alice: Any, ref: Any) -> None:
    with reverts_exact("EnergyTokenZeroAmount"):
        token.topUp(alice, 0, ref("bank-zero"), {"from": dso})
    assert not token.topUpRecorded(ref("bank-zero"))
    assert token.totalMinted() == 0


def test_top_up_missing_reference(token: Any, dso: Any, alice: Any) -> None:
    with reverts_exact("EnergyTokenMissingReference"):
        token.topUp(alice, EUR, ZERO32, {"from": dso})
    assert token.balanceOf(alice) == 0
    assert token.totalMinted() == 0


def test_top_up_reused_reference(token: Any, dso: Any, alice: Any, bob: Any, ref: Any) -> None:
    token.topUp(alice, 10 * EUR, ref("bank-dup"), {"from": dso})
    with reverts_exact("EnergyTokenReferenceUsed", ref("bank-dup")):
        token.topUp(alice, 10 * EUR, ref("bank-dup"), {"from": dso})
    # Another member or amount does not make the reference new.
    with reverts_exact("EnergyTokenReferenceUsed", ref("bank-dup")):
        token.topUp(bob, 1, ref("bank-dup"), {"from": dso})
    assert token.balanceOf(alice) == 10 * EUR
    assert token.balanceOf(bob) == 0
    assert token.totalMinted() == 10 * EUR
    assert token.totalSupply() == 10 * EUR


def test_top_up_to_zero_address_rejected(token: Any, dso: Any, ref: Any) -> None:
    with reverts_exact("EnergyTokenNotMember", ZERO):
        token.topUp(ZERO, EUR, ref("bank-nobody"), {"from": dso})
    assert not token.topUpRecorded(ref("bank-nobody"))
    assert token.totalMinted() == 0


def test_top_up_only_to_members_and_the_dso_accounts(
    token: Any,
    community: Any,
    market: Any,
    dso: Any,
    alice: Any,
    outsider: Any,
    supply_account: Any,
    fee_account: Any,
    network_account: Any,
    ref: Any,
) -> None:
    assert token.community() == community
    # Someone who never was a member: refused by name, nothing recorded, no event.
    assert not token.mayReceiveTopUp(outsider)
    with reverts_exact("EnergyTokenNotMember", outsider):
        token.topUp(outsider, EUR, ref("bank-outsider"), {"from": dso})
    assert not token.topUpRecorded(ref("bank-outsider"))
    assert token.totalMinted() == 0 and token.balanceOf(outsider) == 0
    # The DSO's supply, fee and network accounts may be funded (feed-in, flexibility budgets).
    for i, account in enumerate((supply_account, fee_account, network_account)):
        assert token.mayReceiveTopUp(account)
        tx = token.topUp(account, EUR, ref(f"bank-dso-{i}"), {"from": dso})
        assert [(e["member"], e["amount"]) for e in tx.events["TopUp"]] == [(account, EUR)]
    # A leaving member still may (to pay what it owes before its exit completes).
    market.membership.requestExit({"from": alice})
    assert community.memberRole(alice) == 0 and token.mayReceiveTopUp(alice)
    tx = token.topUp(alice, EUR, ref("bank-leaving"), {"from": dso})
    assert [(e["member"], e["amount"]) for e in tx.events["TopUp"]] == [(alice, EUR)]
    # The outsider registered: now it may.
    community.registerMember(outsider, CONSUMER, 0, {"from": dso})
    tx = token.topUp(outsider, EUR, ref("bank-outsider"), {"from": dso})
    assert [(e["member"], e["amount"]) for e in tx.events["TopUp"]] == [(outsider, EUR)]
    assert token.totalMinted() == 5 * EUR


# ------------------------------------------------------------------------------------ redeem


def test_redeem_burns_and_emits(token: Any, dso: Any, alice: Any, ref: Any) -> None:
    token.topUp(alice, 40 * EUR, ref("bank-r1"), {"from": dso})
    tx = token.redeem(15 * EUR + 7, ref("iban-alice"), {"from": alice})
    assert token.balanceOf(alice) == 25 * EUR - 7
    assert token.totalSupply() == 25 * EUR - 7
    assert token.totalRedeemed() == 15 * EUR + 7
    assert token.totalMinted() == 40 * EUR
    event = tx.events["Redeemed"]
    assert event["holder"] == alice
    assert event["amount"] == 15 * EUR + 7
    assert _b32(event["payoutRef"]) == ref("iban-alice")
    transfer = tx.events["Transfer"]
    assert transfer["from"] == alice
    assert transfer["to"] == ZERO
    assert transfer["value"] == 15 * EUR + 7

    # Redeem everything that is left: balance exactly zero.
    token.redeem(25 * EUR - 7, ref("iban-alice"), {"from": alice})
    assert token.balanceOf(alice) == 0
    assert token.totalSupply() == 0
    assert token.totalRedeemed() == 40 * EUR


def test_redeem_zero_rejected(token: Any, dso: Any, alice: Any, ref: Any) -> None:
    token.topUp(alice, EUR, ref("bank-r2"), {"from": dso})
    with reverts_exact("EnergyTokenZeroAmount"):
        token.redeem(0, ref("iban"), {"from": alice})
    assert token.totalRedeemed() == 0


def test_redeem_more_than_balance(token: Any, dso: Any, alice: Any, bob: Any, ref: Any) -> None:
    token.topUp(alice, 5 * EUR, ref("bank-r3"), {"from": dso})
    with reverts_exact("ERC20InsufficientBalance", alice, 5 * EUR, 5 * EUR + 1):
        token.redeem(5 * EUR + 1, ref("iban"), {"from": alice})
    with reverts_exact("ERC20InsufficientBalance", bob, 0, 1):
        token.redeem(1, ref("iban"), {"from": bob})
    assert token.balanceOf(alice) == 5 * EUR
    assert token.totalRedeemed() == 0
    assert token.totalSupply() == 5 * EUR


def test_supply_is_minted_minus_redeemed(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    holders = [alice, bob, carol]

    def check() -> None:
        supply = token.totalSupply()
        assert supply == token.totalMinted() - token.totalRedeemed()
        assert supply == sum(token.balanceOf(h) for h in holders)

    token.topUp(alice, 30 * EUR, ref("s1"), {"from": dso})
    check()
    token.topUp(bob, 12 * EUR + 5, ref("s2"), {"from": dso})
    check()
    token.transfer(carol, 7 * EUR, {"from": alice})
    check()
    token.redeem(2 * EUR, ref("p1"), {"from": carol})
    check()
    token.transferBatch(_batch([alice, carol], [EUR, 3]), {"from": bob})
    check()
    token.redeem(12 * EUR + 2 - EUR, ref("p2"), {"from": bob})
    check()
    assert token.balanceOf(bob) == 0
    assert token.totalMinted() == 42 * EUR + 5
    assert token.totalRedeemed() == 2 * EUR + 11 * EUR + 2
    assert token.totalSupply() == 42 * EUR + 5 - (13 * EUR + 2)


# ------------------------------------------------------------------------------------ marketPull


def test_market_pull_only_market_role(
    token: Any, dso: Any, outsider: Any, alice: Any, ref: Any
) -> None:
    token.topUp(alice, 10 * EUR, ref("m1"), {"from": dso})
    role = token.MARKET_ROLE()
    with reverts_exact("AccessControlUnauthorizedAccount", outsider, _b32(role)):
        token.marketPull(alice, EUR, {"from": outsider})
    # Not even the admin / treasurer may pull a member's tokens.
    with reverts_exact("AccessControlUnauthorizedAccount", dso, _b32(role)):
        token.marketPull(alice, EUR, {"from": dso})
    # A member cannot pull from another member.
    with reverts_with("AccessControlUnauthorizedAccount"):
        token.marketPull(alice, EUR, {"from": alice})
    assert token.balanceOf(alice) == 10 * EUR
    assert token.balanceOf(outsider) == 0


def test_market_pull_moves_to_caller_without_allowance(
    token: Any, dso: Any, outsider: Any, alice: Any, ref: Any
) -> None:
    token.topUp(alice, 10 * EUR, ref("m2"), {"from": dso})
    token.grantRole(token.MARKET_ROLE(), outsider, {"from": dso})
    assert token.allowance(alice, outsider) == 0
    tx = token.marketPull(alice, 4 * EUR + 1, {"from": outsider})
    assert token.balanceOf(alice) == 6 * EUR - 1
    assert token.balanceOf(outsider) == 4 * EUR + 1
    assert token.totalSupply() == 10 * EUR
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (alice, outsider, 4 * EUR + 1)
    with reverts_exact("ERC20InsufficientBalance", alice, 6 * EUR - 1, 6 * EUR):
        token.marketPull(alice, 6 * EUR, {"from": outsider})
    assert token.balanceOf(alice) == 6 * EUR - 1


# ------------------------------------------------------------------------------------ transferBatch


def _batch(recipients: list[Any], amounts: list[int]) -> list[int]:
    return [
        pack_transfer(str(getattr(r, "address", r)), a)
        for r, a in zip(recipients, amounts, strict=True)
    ]


def test_transfer_batch_moves_exact_amounts(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, dave: Any, ref: Any
) -> None:
    token.topUp(alice, 50 * EUR, ref("b1"), {"from": dso})
    amounts = [3 * EUR, 1, 7 * EUR + 13, 2 * EUR]
    recipients = [bob, carol, dave, bob]  # repeats allowed
    tx = token.transferBatch(_batch(recipients, amounts), {"from": alice})
    assert token.balanceOf(alice) == 50 * EUR - sum(amounts)
    assert token.balanceOf(bob) == 5 * EUR
    assert token.balanceOf(carol) == 1
    assert token.balanceOf(dave) == 7 * EUR + 13
    assert token.totalSupply() == 50 * EUR
    transfers = tx.events["Transfer"]
    assert len(transfers) == 4
    for event, to, amount in zip(transfers, recipients, amounts, strict=True):
        assert (event["from"], event["to"], event["value"]) == (alice, to, amount)


def test_transfer_batch_empty_is_noop(token: Any, dso: Any, alice: Any, ref: Any) -> None:
    token.topUp(alice, EUR, ref("b0"), {"from": dso})
    tx = token.transferBatch([], {"from": alice})
    assert "Transfer" not in tx.events
    assert token.balanceOf(alice) == EUR


def test_transfer_batch_unpacks_the_full_amount_width(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    big = 2**95 + 12345  # uses the top bits of the 96-bit amount field
    token.topUp(alice, big + 10, ref("b2"), {"from": dso})
    tx = token.transferBatch(_batch([bob, carol], [big, 10]), {"from": alice})
    assert token.balanceOf(bob) == big
    assert token.balanceOf(carol) == 10
    assert token.balanceOf(alice) == 0
    assert [e["to"] for e in tx.events["Transfer"]] == [bob, carol]


def test_transfer_batch_is_all_or_nothing(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    token.topUp(alice, 10 * EUR, ref("b3"), {"from": dso})
    # The first transfer fits, the second does not: nothing moves.
    with reverts_exact("ERC20InsufficientBalance", alice, 4 * EUR, 5 * EUR):
        token.transferBatch(_batch([bob, carol], [6 * EUR, 5 * EUR]), {"from": alice})
    assert token.balanceOf(alice) == 10 * EUR
    assert token.balanceOf(bob) == 0
    assert token.balanceOf(carol) == 0
    with reverts_exact("ERC20InvalidReceiver", ZERO):
        token.transferBatch(_batch([bob, ZERO], [1, 1]), {"from": alice})
    assert token.balanceOf(bob) == 0


# -------------------------------------------------------------------------------- transferFromBatch


def test_transfer_from_batch_pulls_each_debit_against_its_mandate(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    """The DSO collects a period's lease from two lessees in one transaction, each within the
    allowance that lessee gave it; what is left of each mandate is the allowance less the pull."""
    token.topUp(alice, 20 * EUR, ref("m1"), {"from": dso})
    token.topUp(bob, 20 * EUR, ref("m2"), {"from": dso})
    token.approve(carol, 5 * EUR, {"from": alice})
    token.approve(carol, 3 * EUR, {"from": bob})
    debits = _batch([alice, bob, alice], [2 * EUR, 3 * EUR, 1])
    tx = token.transferFromBatch(debits, {"from": carol})
    assert token.balanceOf(carol) == 5 * EUR + 1
    assert token.balanceOf(alice) == 18 * EUR - 1
    assert token.balanceOf(bob) == 17 * EUR
    assert token.allowance(alice, carol) == 3 * EUR - 1
    assert token.allowance(bob, carol) == 0
    assert [(e["from"], e["to"], e["value"]) for e in tx.events["Transfer"]] == [
        (alice, carol, 2 * EUR),
        (bob, carol, 3 * EUR),
        (alice, carol, 1),
    ]
    assert token.totalSupply() == 40 * EUR


def test_transfer_from_batch_refuses_beyond_a_mandate_and_moves_nothing(
    token: Any, dso: Any, alice: Any, bob: Any, carol: Any, ref: Any
) -> None:
    token.topUp(alice, 20 * EUR, ref("m3"), {"from": dso})
    token.topUp(bob, 20 * EUR, ref("m4"), {"from": dso})
    token.approve(carol, 5 * EUR, {"from": alice})
    token.approve(carol, EUR, {"from": bob})
    # alice's debit fits, bob's passes his mandate by 1 n€: the whole batch reverts.
    with reverts_exact("ERC20InsufficientAllowance", carol, EUR, EUR + 1):
        token.transferFromBatch(_batch([alice, bob], [2 * EUR, EUR + 1]), {"from": carol})
    assert token.balanceOf(alice) == 20 * EUR
    assert token.allowance(alice, carol) == 5 * EUR
    # A revoked mandate refuses any pull; a mandate larger than the balance refuses too.
    token.approve(carol, 0, {"from": alice})
    with reverts_exact("ERC20InsufficientAllowance", carol, 0, 1):
        token.transferFromBatch(_batch([alice], [1]), {"from": carol})
    token.approve(carol, 100 * EUR, {"from": bob})
    with reverts_exact("ERC20InsufficientBalance", bob, 20 * EUR, 21 * EUR):
        token.transferFromBatch(_batch([bob], [21 * EUR]), {"from": carol})
    assert token.balanceOf(carol) == 0


# ------------------------------------------------------------------------------------ ERC-2612


def test_permit_domain_separator(token: Any) -> None:
    domain = {
        "name": "gridshare prepaid euro",
        "version": "1",
        "chainId": chain.id,
        "verifyingContract": token.address,
    }
    type_hash = web3.keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    encoded = (
        bytes(type_hash)
        + bytes(web3.keccak(text=domain["name"]))
        + bytes(web3.keccak(text=domain["version"]))
        + int(domain["chainId"]).to_bytes(32, "big")
        + bytes(HexBytes(token.address)).rjust(32, b"\0")
    )
    assert _b32(token.DOMAIN_SEPARATOR()) == bytes(web3.keccak(encoded))


def test_permit_sets_allowance(
    token: Any, dso: Any, alice: Any, relayer: Any, outsider: Any, ref: Any
) -> None:
    token.topUp(alice, 10 * EUR, ref("p1"), {"from": dso})
    deadline = chain.time() + 3600
    value = 3 * EUR + 9
    assert token.nonces(alice) == 0
    v, r, s = _permit_signature(token, MEMBER_KEYS["alice"], outsider.address, value, 0, deadline)
    alice_ether = alice.balance()
    tx = token.permit(alice, outsider, value, deadline, v, r, s, {"from": relayer})
    assert alice.balance() == alice_ether  # gasless for the owner
    assert token.allowance(alice, outsider) == value
    assert token.nonces(alice) == 1
    approval = tx.events["Approval"]
    assert (approval["owner"], approval["spender"], approval["value"]) == (alice, outsider, value)

    token.transferFrom(alice, outsider, value, {"from": outsider})
    assert token.balanceOf(outsider) == value
    assert token.allowance(alice, outsider) == 0
    assert token.balanceOf(alice) == 10 * EUR - value


def test_permit_replay_rejected(token: Any, alice: Any, relayer: Any, outsider: Any) -> None:
    deadline = chain.time() + 3600
    v, r, s = _permit_signature(token, MEMBER_KEYS["alice"], outsider.address, EUR, 0, deadline)
    token.permit(alice, outsider, EUR, deadline, v, r, s, {"from": relayer})
    token.approve(outsider, 0, {"from": alice})  # the owner withdraws the allowance
    # Replaying the same signature now recovers another address (the nonce moved on).
    with reverts_with("ERC2612InvalidSigner"):
        token.permit(alice, outsider, EUR, deadline, v, r, s, {"from": relayer})
    assert token.allowance(alice, outsider) == 0
    assert token.nonces(alice) == 1


def test_permit_expired_rejected(token: Any, alice: Any, relayer: Any, outsider: Any) -> None:
    deadline = chain.time() + 100
    v, r, s = _permit_signature(token, MEMBER_KEYS["alice"], outsider.address, EUR, 0, deadline)
    chain.sleep(200)
    chain.mine()
    with reverts_exact("ERC2612ExpiredSignature", deadline):
        token.permit(alice, outsider, EUR, deadline, v, r, s, {"from": relayer})
    assert token.allowance(alice, outsider) == 0
    assert token.nonces(alice) == 0


def test_permit_wrong_signer_or_value_rejected(
    token: Any, alice: Any, bob: Any, relayer: Any, outsider: Any
) -> None:
    deadline = chain.time() + 3600
    # Bob signs a permit over Alice's tokens.
    v, r, s = _permit_signature(
        token, MEMBER_KEYS["bob"], outsider.address, EUR, 0, deadline, owner=alice.address
    )
    with reverts_exact("ERC2612InvalidSigner", bob, alice):
        token.permit(alice, outsider, EUR, deadline, v, r, s, {"from": relayer})
    # Alice signs 1 €, the relayer submits 2 €.
    v, r, s = _permit_signature(token, MEMBER_KEYS["alice"], outsider.address, EUR, 0, deadline)
    with reverts_with("ERC2612InvalidSigner"):
        token.permit(alice, outsider, 2 * EUR, deadline, v, r, s, {"from": relayer})
    # ... or to another spender.
    with reverts_with("ERC2612InvalidSigner"):
        token.permit(alice, relayer, EUR, deadline, v, r, s, {"from": relayer})
    assert token.allowance(alice, outsider) == 0
    assert token.allowance(alice, relayer) == 0
    assert token.nonces(alice) == 0
