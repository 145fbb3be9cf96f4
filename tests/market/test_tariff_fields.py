"""One declared list of tariff fields (market.tariff): the contracts' struct, the ABI encoding, the
index's columns, the API's and the settings' tariff models all follow it.

Adding a tariff field means declaring it in market.tariff and in contracts/lib/MarketTypes.sol;
every test here fails until the encoding, the index (events.json and a migration), the API and
the settings carry it too.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from api.schemas import TariffCreate, TariffFields
from chain.codec import MODE_CODES, decode_rules, encode_rules
from gridshare.settings import TariffSettings
from indexer.spec import load_specs, snake_case
from market.tariff import (
    PRICE_CAP,
    RULE_FIELDS,
    SERVICE_FEE_CAP,
    TARIFF_FIELDS,
    TARIFF_NAMES,
    InvalidTariffError,
    SlotRules,
    Tariff,
    tariff_terms,
)

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
RULES = SlotRules(
    Tariff(
        retail_price=210_000,
        feed_in_price=60_000,
        grid_fee=90_000,
        p2p_grid_fee=30_000,
        trade_fee_buy=4_000,
        trade_fee_sell=3_000,
        service_fee=1_500_000_000,
        community_price=180_000,
        sharing_price=170_000,
    ),
    "pay-as-bid",
)


def _struct_components() -> list[str]:
    """The `Tariff` struct's member names, in order, from the compiled Community's `tariffAt`."""
    abi = json.loads((BUILD / "Community.json").read_text())["abi"]
    (fn,) = [i for i in abi if i.get("type") == "function" and i["name"] == "tariffAt"]
    (out,) = fn["outputs"]
    return [c["name"] for c in out["components"]]


def test_the_declared_fields_are_the_contracts_struct_in_its_order() -> None:
    assert [f.metadata["position"] for f in RULE_FIELDS] == list(range(len(RULE_FIELDS)))
    assert [f.metadata["abi"] for f in RULE_FIELDS] == _struct_components()


def test_the_index_has_one_column_per_declared_field() -> None:
    (spec,) = [s for s in load_specs() if s.table_name == "ev_community_tariff_scheduled"]
    columns = [c.name for c in spec.columns if c.name.startswith("tariff_")]
    assert columns == [f"tariff_{snake_case(f.metadata['abi'])}" for f in RULE_FIELDS]
    # ... and the Python name of each is the column's (so a row maps onto a Tariff by name).
    assert {c.removeprefix("tariff_") for c in columns} == TARIFF_NAMES | {"mode"}


def test_the_encoding_follows_the_declaration() -> None:
    values = encode_rules(RULES)
    by_abi = dict(zip([f.metadata["abi"] for f in RULE_FIELDS], values, strict=True))
    assert by_abi["serviceFee"] == 1_500_000_000 and by_abi["communityPrice"] == 180_000
    assert by_abi["mode"] == MODE_CODES["pay-as-bid"] and by_abi["sharingPrice"] == 170_000
    assert decode_rules(values) == RULES
    # A tariff recorded before the sharing price existed (the struct's last field) reads it as
    # the community price; any other length is refused.
    legacy = decode_rules(values[:-1])
    assert legacy == replace(RULES, tariff=replace(RULES.tariff, sharing_price=180_000))
    with pytest.raises(ValueError, match="a tariff has 10 fields, got 8"):
        decode_rules(values[:-2])


def test_the_api_and_the_settings_models_carry_every_field_with_its_bound() -> None:
    for model in (TariffFields, TariffCreate, TariffSettings):
        assert set(model.model_fields) - {"from_slot"} == TARIFF_NAMES | {"mode"}, model
    schema = TariffFields.model_json_schema()["properties"]
    for f in TARIFF_FIELDS:
        bounds = schema[f.name].get("anyOf", [schema[f.name]])[0]
        assert bounds["exclusiveMaximum"] == f.metadata["cap"], f.name
    defaults = TariffSettings().rules().tariff
    assert set(tariff_terms(defaults)) == TARIFF_NAMES


@pytest.mark.parametrize(
    ("name", "value"),
    [("retail_price", PRICE_CAP), ("grid_fee", PRICE_CAP), ("service_fee", SERVICE_FEE_CAP)],
)
def test_a_field_at_its_cap_is_refused_by_the_rulebook(name: str, value: int) -> None:
    terms = {**tariff_terms(RULES.tariff), name: value}
    with pytest.raises(InvalidTariffError, match=f"{name} must be below {value}"):
        Tariff(**terms)
    assert getattr(Tariff(**{**terms, name: value - 1}), name) == value - 1
