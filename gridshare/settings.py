"""The one place configuration lives: typed settings read from a TOML file and the environment.

Precedence (lowest to highest): defaults below, the TOML file (``GRIDSHARE_CONFIG``, else
``gridshare.toml`` in the working directory if present), then environment variables named
``GRIDSHARE_<FIELD>`` for top-level fields and ``GRIDSHARE_TARIFF__<FIELD>`` for tariff fields.
Algorithms never read this module: callers load settings once and pass values in.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from market.tariff import SlotRules, Tariff

ENV_PREFIX = "GRIDSHARE_"
# Gas a batch transaction (the matcher's settlement against meters, the relay's readings) may
# use at most (issue 16: no transaction above 15M gas, whatever the community's size). The
# services' defaults too: a Matcher(...) or Relay(...) built without settings (tests,
# benchmarks, the simulation) batches the same way as the service.
BATCH_GAS = 15_000_000
ClearingMode = Literal["uniform", "pay-as-bid", "community"]
# How the long-running processes (matcher, indexer, API, oracle relay and meter signer) log: one
# line a record on stderr, INFO and above.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Set up the process's logging as LOG_FORMAT says (each service's command calls it first)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


class TariffSettings(BaseModel):
    """The tariff in force from slot 0, in n€/Wh (= µ€/kWh); ``service_fee`` in n€ per period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retail_price: int = 200_000  # 0.20 €/kWh energy part of the retail price
    feed_in_price: int = 70_000  # 0.07 €/kWh
    grid_fee: int = 100_000  # 0.10 €/kWh network charge on grid imports
    p2p_grid_fee: int = 40_000  # 0.04 €/kWh reduced network charge on local purchases
    trade_fee_buy: int = 5_000  # 0.005 €/kWh platform fee
    trade_fee_sell: int = 5_000
    community_price: int = 190_000  # the aggregator's P2P price, just below retail
    sharing_price: int | None = None  # price of a shared Wh (mode sharing); None: community_price
    service_fee: int = 2_000_000_000  # 2 € per member and period
    mode: ClearingMode = "uniform"

    def rules(self) -> SlotRules:
        """The configured tariff as the rulebook's value (validated there)."""
        return SlotRules(Tariff(**self.model_dump(exclude={"mode"}, exclude_none=True)), self.mode)


class Settings(BaseModel):
    """Market calendar, limits, tariff and service endpoints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot_seconds: int = Field(default=1800, gt=0)  # 30 min; 900 (15 min) also supported
    gate_closure_seconds: int = Field(default=300, ge=0)  # order book closes 5 min before delivery
    order_horizon_slots: int = Field(
        default=96, gt=0
    )  # orders up to 2 days ahead (= tariff notice)
    genesis: int | None = None  # unix start of slot 0; None: midnight UTC of the deployment day
    max_orders_per_slot: int = Field(default=2000, gt=0)
    max_standing_slots: int = Field(default=96, gt=0)
    max_orders_per_member_slot: int = Field(default=10, gt=0)  # orders one member places per slot
    min_order_wh: int = Field(default=1, gt=0, lt=2**40)  # smallest order energy
    fee_account: str | None = None  # DSO platform-fee account; None: a dev account / the deployer
    network_account: str | None = None  # DSO network-charge account
    supply_account: str | None = None  # DSO supply account: pays feed-in, receives retail
    # After delivery, readings may come in for this long before the slot's imbalance settles
    # without the missing ones (it settles earlier once every registered meter has reported).
    reading_deadline_seconds: int = Field(default=3600, ge=0)
    period_slots: int = Field(default=1440, gt=0)  # profit-sharing / service-fee period (30 days)
    profit_share_bps: int = Field(default=5000, ge=0, le=10_000)  # of platform-fee income
    # Most members one transaction of a bounded step bills (the period close): no transaction
    # grows with the community beyond this chunk (market-rules.md, "Slots").
    chunk_members: int = Field(default=256, gt=0, le=65_535)
    # Gas one settlement against meters may use, as the matcher estimates it: it batches a day's
    # (slot, chunk)s into few transactions within it (a (slot, chunk) is never split).
    imbalance_batch_gas: int = Field(default=BATCH_GAS, gt=0)
    # Slot settlements that may carry the settlement against meters (SettlementRouter): a backlog
    # they can carry, one batch each, waits for them instead of transactions of its own; 0: none.
    imbalance_carry_slots: int = Field(default=0, ge=0)
    exit_penalty: int = Field(default=20_000_000_000, ge=0)  # n€ (20 €) if leaving in lock-in
    # DSO flexibility (docs/decisions.md, "Flexibility")
    flex_penalty: int = Field(default=100_000, ge=0, lt=2**40)  # n€ per Wh short of accepted
    flex_baseline_days: int = Field(default=5, gt=0)  # days with a reading in the baseline
    flex_lookback_days: int = Field(default=10, gt=0)  # how far back the baseline looks
    flex_max_offers: int = Field(default=64, gt=0)  # offers per request (bounds settlement gas)
    lock_in_slots: int = Field(default=17_520, ge=0)  # one year of 30-minute slots
    tariff: TariffSettings = TariffSettings()
    # "trading": order book + settlement + imbalance; "sharing": SharingSettlement allocates each
    # slot's production by `sharing_key` (market-rules.md, "Energy sharing"). Deploy-time only.
    market_mode: Literal["trading", "sharing"] = "trading"
    sharing_key: Literal["dynamic", "static"] = "dynamic"
    deployments_dir: Path = Path("deployments")
    # Node access (chain/node.py). rpc_url overrides the host and port of the brownie network
    # entry with the same id in brownie_network_config.
    rpc_url: str | None = None
    brownie_network_config: Path = Path("~/.brownie/network-config.yaml")
    rpc_timeout_seconds: float = Field(default=30.0, gt=0)  # one JSON-RPC request
    rpc_retry_initial_seconds: float = Field(default=0.5, gt=0)  # first backoff after a failure
    rpc_retry_max_seconds: float = Field(default=30.0, gt=0)  # backoff doubles up to this
    rpc_retry_limit: int = Field(default=0, ge=0)  # failed attempts before giving up; 0: never
    gas_price_wei: int = Field(default=2_000_000_000, gt=0)  # legacy gasPrice of every tx
    tx_timeout_seconds: float = Field(default=120.0, gt=0)  # wait for a receipt this long
    # The key `brownie run scripts/deploy.py` deploys with on a network other than a dev chain
    # (it becomes the DSO admin).
    deployer_key: SecretStr | None = None
    # The matcher's sending account: an unlocked node account (dev chains) or a private key that
    # is signed with locally (GRIDSHARE_MATCHER_KEY, wins if both are set).
    matcher: str | None = None
    matcher_key: SecretStr | None = None
    matcher_poll_seconds: float = Field(default=5.0, gt=0)  # pause between passes over the chain
    # Wallet API (api/): it reads the event index at index_db_url and keeps its top-up requests
    # there (table api_top_up_request). The relayer sends members' signed orders and
    # cancellations (it pays the gas, members need no ether); the operator sends DSO actions for
    # signed-in DSO users and must hold the DSO and treasurer roles. Each: an unlocked node
    # address or a private key (wins).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, gt=0, lt=65536)
    api_domain: str | None = None  # SIWE domain a message must name; None: "<api_host>:<api_port>"
    api_session_secret: SecretStr | None = None  # HMAC key of session tokens; None: random per run
    api_session_seconds: int = Field(default=3600, gt=0)
    api_nonce_seconds: int = Field(default=300, gt=0)  # a SIWE nonce is usable once, this long
    api_relayer: str | None = None
    api_relayer_key: SecretStr | None = None
    api_operator: str | None = None
    api_operator_key: SecretStr | None = None
    api_head_poll_seconds: float = Field(default=0.25, gt=0)  # chain reads are cached per head
    # With write endpoints on (the default), `gridshare api` refuses to start unless both the
    # relayer and the operator are configured; api_read_only serves reads only and answers
    # every write with 503 (docs/decisions.md, "Wallet API: start-up").
    api_read_only: bool = False
    # The API's own node access: a request must fail fast (503) while the node is down, not
    # retry for ever as the services do (rpc_retry_limit 0), and a stuck retry must not hold
    # a shutdown. Attempts x timeout bounds a request against a node that hangs.
    api_rpc_timeout_seconds: float = Field(default=5.0, gt=0)
    api_rpc_retry_limit: int = Field(default=2, gt=0)  # failed attempts before the 503
    api_rpc_retry_initial_seconds: float = Field(default=0.1, gt=0)
    api_rpc_retry_max_seconds: float = Field(default=0.5, gt=0)
    api_shutdown_seconds: int = Field(default=3, ge=0)  # in-flight requests after SIGTERM
    # Top-up requests (POST /wallet/top-ups), per member: the largest amount of one request
    # (n€; 500 €) and how many may wait for their payment at once.
    api_top_up_max_amount: int = Field(default=500 * 10**9, gt=0, lt=2**63)
    api_top_up_max_open: int = Field(default=3, gt=0)
    # The dev sign-in helper (/dev/*, `make dashboard`): a JSON file of a demo community's
    # accounts and keys, signed with on the dashboard's behalf. The API refuses to start with it
    # on any chain but a local development one (chain id 1337 or 31337; api/dev.py).
    api_dev_accounts: Path | None = None
    # The meter oracle (oracle/). The relay (`gridshare oracle run`): its relaying account
    # (ORACLE role), as for the matcher; it reads no meter key.
    oracle: str | None = None
    oracle_key: SecretStr | None = None
    oracle_db_url: str = "sqlite:///gridshare-oracle.db"  # the durable outbox (relay's intake)
    # Readings (or spans) per transaction, at most; the relay also keeps a batch within
    # oracle_batch_gas (and half a block) at its gas bounds per reading (oracle/relay.py).
    oracle_batch_size: int = Field(default=200, gt=0)
    oracle_batch_gas: int = Field(default=BATCH_GAS, gt=0)
    oracle_poll_seconds: float = Field(default=2.0, gt=0)
    # A meter's signer (`gridshare meter run`, where the meter is): its one keystore,
    # <meter_keystore_dir>/<meter>.json, and the password that opens it; the checks its samples
    # pass. It writes to the outbox at oracle_db_url.
    meter_keystore_dir: Path = Path("meter-keys")
    meter_key_password: SecretStr | None = None
    # Slot readings a meter signs at once (a span, e.g. 48 = a day of 30-minute slots); 1 signs
    # each slot alone; 0: the longest span the deployment's reading deadline allows, at most a day.
    meter_span_slots: int = Field(default=0, ge=0)
    oracle_meter_rating_w: int = Field(default=27_600, gt=0)  # 3 × 40 A × 230 V
    oracle_meter_ratings: dict[str, int] = {}  # per-meter overrides of the rating, in W
    oracle_max_future_seconds: int = Field(default=300, ge=0)  # clock skew tolerated
    oracle_dsmr_version: str = "v5"  # v2.2, v3, v4, v5, fluvius
    # The audit (audit/): blocks per eth_getLogs request, and failed attempts before it gives up
    # on an unreachable node when rpc_retry_limit is 0 (a one-shot run must not hang forever).
    audit_batch_blocks: int = Field(default=5_000, gt=0)
    audit_rpc_retry_limit: int = Field(default=5, gt=0)
    # The event index (indexer/): its database (SQLAlchemy URL; PostgreSQL as
    # postgresql://user:pass@host/db, driven by psycopg 3), blocks read per batch, how far
    # behind the head it stays, and the pause between passes.
    index_db_url: str = "sqlite:///gridshare-index.db"
    index_batch_blocks: int = Field(default=1000, gt=0)
    index_confirmations: int = Field(default=3, ge=0)
    index_poll_seconds: float = Field(default=2.0, gt=0)
    # The intent pool (intents/): every signed intent the API accepted, until its slot's
    # settlement says what became of it. The API writes it, the matcher reads it at gate closure
    # (docs/decisions.md, "Intent pool"); both must name the same database (SQLAlchemy URL; a
    # SQLite file by default, PostgreSQL as postgresql://user:pass@host/db, driven by psycopg 3).
    intent_pool_url: str = "sqlite:///gridshare-intents.db"

    def one_shot(self) -> Settings:
        """These settings for a one-shot run (the audit, an export): when rpc_retry_limit is 0
        (retry for ever, as a service does), give up on an unreachable node after
        audit_rpc_retry_limit failed attempts instead of hanging."""
        limit = self.rpc_retry_limit or self.audit_rpc_retry_limit
        return self.model_copy(update={"rpc_retry_limit": limit})

    def with_options(self, **options: object) -> Settings:
        """These settings with each command-line option given (not None) in place of the
        setting of its name: `--db URL` over index_db_url, and so on. The command line has
        checked the values (typer's bounds)."""
        unknown = sorted(options.keys() - Settings.model_fields.keys())
        if unknown:
            raise ValueError(f"no such setting: {', '.join(unknown)}")
        return self.model_copy(update={k: v for k, v in options.items() if v is not None})


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tariff: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.startswith("tariff__"):
            tariff[name[len("tariff__") :]] = value
        elif name in Settings.model_fields:
            out[name] = value
    if tariff:
        out["tariff"] = tariff
    return out


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the TOML file and the environment (see module docstring)."""
    env = os.environ if env is None else env
    if path is None:
        configured = env.get(ENV_PREFIX + "CONFIG")
        path = Path(configured) if configured else Path("gridshare.toml")
    data: dict[str, Any] = {}
    if path.exists():
        data = tomllib.loads(path.read_text())
    overrides = _env_overrides(env)
    tariff = {**data.get("tariff", {}), **overrides.pop("tariff", {})}
    merged = {**data, **overrides}
    if tariff:
        merged["tariff"] = tariff
    return Settings.model_validate(merged)
