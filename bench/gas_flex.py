"""Gas of the calls that share the sorted-address search and of relayed flexibility offers:
`make bench-gas-flex` (`python -m bench.gas_flex --record`).

Measures, on one deployment with `MEMBERS` metered members (one meter each), every step through
chain/gateway.py and the matcher service (which accepts and settles flexibility requests):
- `settleImbalances` of a slot in which every member has a reading and a trade (steady state),
  per member (the search runs once per reading and once per trade word);
- `settleRequest` of a flexibility request with `OFFERS` accepted offers, whose slot has a
  reading of every member (the search runs once per reading word over the accepted members);
- an offer made directly (`offer`, the member pays gas) and relayed (`offerWithSig`).
Prints the figures and, with --record, writes them to bench/results.json and docs/benchmarks.md
(section SECTION).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.chainops import SUPPLY_FLOAT
from bench.gas import DSO, FUNDER, MATCHER, NETWORK, RELAYER, deployment
from bench.report import show_and_record
from chain.devchain import advance_past_reading_deadline, advance_to, dev_accounts
from chain.gateway import CommunityGateway, EnergyTokenGateway, FlexibilityGateway
from chain.node import Sender
from chain.signing import FlexOfferIntent, flex_offer_typed_data, sign_typed_data
from gridshare.settings import Settings, load_settings
from matcher.service import Matcher

MEMBERS = 100
OFFERS = 10
SECTION = "gas: flexibility offers and the sorted-address search (issue 10)"
COMMAND = "make bench-gas-flex  (python -m bench.gas_flex --record)"
NOTES = """
Setting: a private anvil (shanghai), solc 0.8.28 optimizer 100,000 runs, default settings (30-minute
slots, 10 lookback days); 100 members with one meter each. Since the port off brownie (issue 19)
every step goes through chain/gateway.py and the matcher service: it accepts the offers at the
request's gate, settles the imbalance once every meter has reported, then the request.
`settleImbalances`: a slot in which every member has a reading and a trade (steady state).
`settleRequest`: 10 accepted offers, a reading of every member in the delivered slot (no history:
nothing measured, the search still runs once per reading word). Offers: the same 10 offers made
directly (member pays gas) and relayed.

Before the shared search (commit 094f465, on ganache with the brownie script of the time):
settleImbalance 3,283,187 (32,831 per member), settleRequest 424,115, direct offer 86,568.
ImbalanceSettlement now copies the calldata member list to memory once and searches memory
(SortedAddresses.find). A relayed offer costs about 32k more than a direct one (signature
recovery, the nonce word, the FlexOfferSigned event, the intent's calldata), paid by the relayer.
settleRequest varies by a few thousand gas between runs of the same contracts (the brownie runs
measured 423,903 to 428,485): the run's slots follow the wall clock, and with them which of the
lookback slots hold readings.
"""


def run(settings: Settings, node_kind: str, members: int, offers: int) -> dict[str, Any]:
    with deployment(settings, node_kind, 20261121) as bench:
        node = bench.node
        community, flex = CommunityGateway(node), FlexibilityGateway(node)
        dso = bench.account(DSO)
        metered = bench.metered_members(members, "flex")
        keys = [key for key, _ in metered]
        network = dev_accounts(node)[NETWORK]  # pays for flexibility
        ref = b"flex-network".ljust(32, b"\0")
        EnergyTokenGateway(node).top_up(network, SUPPLY_FLOAT, ref, sender=dso)
        matcher = Matcher(node, bench.account(MATCHER))

        target = community.current_slot() + 3
        gate = community.slot_start(target) - 600
        flex.publish_request(target, 0, 10_000, 200_000, gate, sender=dso)
        request = flex.request_count() - 1
        # Trades in the slot after the target (orders placed while its gate is open), so that
        # the imbalance measured there searches reading and trade words.
        bench.relay_crossing_orders(keys, target + 1, nonce=target)
        direct = []
        for i, key in enumerate(keys[:offers]):
            member = Sender.from_key(key.key.hex())
            node.send_value(bench.account(FUNDER), member.address, 10**18)
            direct.append(flex.offer(request, 500 + 100 * i, 100_000 + 1_000 * i, sender=member))
        advance_to(node, gate + 1)
        matcher.run_once()  # accepts the offers (their gate has closed, delivery not begun)
        if not any(flex.accepted().get(request, [])):
            raise RuntimeError(f"request {request}: no offer accepted")
        # Earlier slots (no readings) settle once their reading deadline has passed.
        advance_past_reading_deadline(node, target - 1)
        matcher.run_once()
        gas: dict[str, list[int]] = {}
        for slot in (target, target + 1):
            for name, used in bench.deliver(matcher, metered, slot).items():
                gas.setdefault(f"{name} {slot - target}", []).extend(used)
        imbalance = sum(gas.get("settleImbalances 1", []))
        settle = sum(gas.get("settleRequest 0", []) + gas.get("settleRequest 1", []))
        if not imbalance or not settle:
            raise RuntimeError(f"settleImbalances or settleRequest not measured: {sorted(gas)}")

        # The same offers relayed, on a second request published once the first is settled (so
        # it changes nothing measured above).
        later = community.current_slot() + 3
        flex.publish_request(
            later, 0, 10_000, 200_000, community.slot_start(later) - 600, sender=dso
        )
        other = flex.request_count() - 1
        relayed = []
        for i, key in enumerate(keys[:offers]):
            intent = FlexOfferIntent(
                key.address, other, 500 + 100 * i, 100_000 + 1_000 * i, i, 2**40
            )
            typed = flex_offer_typed_data(intent, node.manifest.chain_id, flex.address)
            signature = sign_typed_data(typed, key.key)
            offered = flex.offer_with_sig(intent, signature, sender=bench.account(RELAYER))
            relayed.append(offered.mined.gas_used)
    return {
        f"settleImbalances_gas_{members}_members (one slot; per member)": (
            f"{imbalance:,} ({imbalance // members:,})"
        ),
        f"settleRequest_gas_{offers}_accepted_{members}_readings": f"{settle:,}",
        "offer_gas_direct (mean)": sum(m.gas_used for m in direct) // len(direct),
        "offerWithSig_gas_relayed (mean)": sum(relayed) // len(relayed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--node", choices=("anvil", "ganache"), default="anvil")
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--offers", type=int, default=OFFERS)
    parser.add_argument("--record", action="store_true", help="write bench/results.json")
    args = parser.parse_args()
    figures = run(load_settings(), args.node, args.members, args.offers)
    show_and_record(SECTION, f"{COMMAND}; node {args.node}", figures, NOTES, save=args.record)


if __name__ == "__main__":
    main()
