"""The typed models: every fixture decodes with every JSON key modelled and every value equal, robustness
properties (extra keys, nulls at any depth, numbers as strings and back, wrong types with a precise path), and
the request bodies encode to what the official examples show.

The fixtures under ``fixtures/`` are the example responses and requests of the official API docs.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import threecommas_async.models as models
from threecommas_async.models import (
    AddFundsParams,
    ConditionalParams,
    CurrentPrice,
    LeverageParams,
    PositionParams,
    Price,
    PriceParams,
    ReduceFundsInfo,
    ReduceFundsParams,
    SmartTrade,
    SmartTradeCreate,
    SmartTradeUpdate,
    Status,
    StopLossParams,
    TakeProfitParams,
    TakeProfitStepParams,
    TimeoutParams,
    Trade,
    TrailingParams,
    Units,
    UnitsParams,
)
from threecommas_async.models._base import ResponseStruct
from threecommas_async.models._decoders import (
    PARAMS_ENCODER,
    REDUCE_FUNDS_INFO_DECODER,
    SMART_TRADE_DECODER,
    SMART_TRADE_LIST_DECODER,
    TRADE_LIST_DECODER,
)

pytestmark = pytest.mark.unit

FIXTURES: Final = Path(__file__).parent / "fixtures"

JsonPath = tuple[str | int, ...]
T = TypeVar("T")

SMART_TRADE_FIXTURES: Final = (
    "cancel_smart_trade_200.json",
    "create_smart_trade_201.json",
    "get_smart_trade_200.json",
    "update_smart_trade_200.json",
    "add_funds_201.json",
    "reduce_funds_201.json",
    "close_by_market_201.json",
    "smart_trade_entity.json",
)

# fixture -> (the decoder the client uses for it, the type it decodes to)
CASES: Final[dict[str, tuple[msgspec.json.Decoder[Any], Any]]] = {
    **{name: (SMART_TRADE_DECODER, SmartTrade) for name in SMART_TRADE_FIXTURES},
    "list_smart_trades_200.json": (SMART_TRADE_LIST_DECODER, list[SmartTrade]),
    "trades_200.json": (TRADE_LIST_DECODER, list[Trade]),
    "reduce_funds_info_200.json": (REDUCE_FUNDS_INFO_DECODER, ReduceFundsInfo),
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(data: bytes | str) -> Any:
    """Parse JSON with the stdlib, keeping JSON fractions exact (as Decimal) so digits can be compared."""
    return json.loads(data, parse_float=Decimal)


def fmt(path: JsonPath) -> str:
    """A path the way msgspec writes it in errors: ``$.take_profit.steps[0].price.value``."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def some(value: T | None) -> T:
    """``value``, asserted present: nested objects may be ``None`` (JSON ``null``), so tests narrow too."""
    assert value is not None
    return value


# -- the schema-driven comparison of a JSON document with what it decoded to --------------------------------


def _non_null(ti: mi.Type) -> list[mi.Type]:
    if isinstance(ti, mi.UnionType):
        return [t for t in ti.types if not isinstance(t, mi.NoneType)]
    return [ti]


def _allows_null(ti: mi.Type) -> bool:
    return isinstance(ti, mi.NoneType) or (
        isinstance(ti, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in ti.types)
    )


def _member_for(ti: mi.Type, value: Any) -> mi.Type | None:
    """The (union member) type a non-null JSON value of this kind decodes into, or None if none accepts it."""
    if isinstance(value, bool):
        kinds: tuple[type[mi.Type], ...] = (mi.BoolType,)
    elif isinstance(value, str):
        kinds = (mi.StrType, mi.DecimalType, mi.DateTimeType)
    elif isinstance(value, int):
        kinds = (mi.IntType, mi.DecimalType, mi.FloatType)
    elif isinstance(value, Decimal | float):
        kinds = (mi.DecimalType, mi.FloatType)
    elif isinstance(value, dict):
        kinds = (mi.StructType,)
    elif isinstance(value, list):
        kinds = (mi.ListType,)
    else:
        raise TypeError(f"not a JSON value: {value!r}")
    for member in _non_null(ti):
        if isinstance(member, kinds):
            return member
    return None


NUMBER: Final = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
TIMESTAMP: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def check_decoded(
    expected: Any, ti: mi.Type, actual: Any, path: JsonPath = (), extras: frozenset[JsonPath] = frozenset()
) -> int:
    """Assert that ``actual`` (decoded) holds exactly the JSON ``expected``, guided by the declared type.

    Every key of every JSON object must be a field of the Struct (unless listed in ``extras``, keys a test
    injected on purpose); fields the JSON leaves out must hold their defaults. Returns the number of JSON
    leaves compared, so callers can prove nothing was skipped.
    """
    where = fmt(path)
    if expected is None:
        assert _allows_null(ti), f"{where} is null in the JSON but the model does not accept null"
        assert actual is None, where
        return 1
    member = _member_for(ti, expected)
    assert member is not None, f"{where}: the model type does not accept JSON {expected!r}"
    if isinstance(member, mi.StructType):
        assert isinstance(actual, member.cls), where
        fields = {f.encode_name: f for f in member.fields}
        compared = 0
        for key, item in expected.items():
            if (*path, key) in extras:
                assert key not in fields, f"{where}: injected key {key!r} collides with a field"
                continue
            assert key in fields, f"{where}: JSON key {key!r} is not modelled by {member.cls.__name__}"
            name = fields[key].name
            compared += check_decoded(item, fields[key].type, getattr(actual, name), (*path, key), extras)
        for f in member.fields:
            if f.encode_name not in expected:
                default = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
                assert getattr(actual, f.name) == default, f"{where}.{f.name} should hold its default"
        return compared
    if isinstance(member, mi.ListType):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        return sum(
            check_decoded(e, member.item_type, a, (*path, i), extras)
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
        )
    if isinstance(member, mi.DecimalType):
        assert type(actual) is Decimal, f"{where}: {actual!r} is not a Decimal"
        assert actual == Decimal(str(expected)), where
    elif isinstance(member, mi.DateTimeType):
        assert isinstance(actual, datetime), where
        assert actual.tzinfo is not None, f"{where}: naive datetime"
        assert actual == datetime.fromisoformat(expected), where
    elif isinstance(member, mi.FloatType):
        assert type(actual) is float, where
        assert actual == float(expected), where
    elif isinstance(member, mi.BoolType | mi.IntType | mi.StrType):
        if isinstance(member, mi.StrType):
            # a field typed str must not be what the contract wants as Decimal or datetime
            assert not NUMBER.fullmatch(expected), f"{where}: {expected!r} looks like an amount, not a str"
            assert not TIMESTAMP.match(expected), f"{where}: {expected!r} looks like a timestamp, not a str"
        assert type(actual) is type(expected), f"{where}: {actual!r} vs JSON {expected!r}"
        assert actual == expected, where
    else:  # pragma: no cover - a new kind of field needs a rule here
        raise AssertionError(f"{where}: no comparison rule for {member!r}")
    return 1


def count_leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(count_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_leaves(v) for v in value)
    return 1


def decode_and_check(name: str) -> Any:
    decoder, target = CASES[name]
    data = raw(name)
    decoded = decoder.decode(data)
    document = parse(data)
    compared = check_decoded(document, mi.type_info(target), decoded)
    assert compared == count_leaves(document), "some JSON values were not compared"
    return decoded


# -- fixtures: every value, every key ------------------------------------------------------------------------


def test_seed_fixture_every_field() -> None:
    trade = decode_and_check("cancel_smart_trade_200.json")
    assert isinstance(trade, SmartTrade)
    # the dotted paths the public contract promises
    # the dotted paths of the public contract; nested objects may be None, so each step is narrowed
    assert trade.id == 30404547
    assert some(trade.status).type == "cancellation_pending"
    assert some(some(trade.position).units).value == Decimal("14.91")
    first_step = some(some(trade.take_profit).steps)[0]
    assert some(first_step.price).value == Decimal("0.11627")
    assert some(first_step.price).percent is None
    data = some(trade.data)
    assert some(data.current_price).bid == Decimal("0.10613")
    assert some(trade.profit).usd == Decimal("-0.0030340983")
    assert data.commission == Decimal("0.001")  # a JSON number here
    assert data.created_at == datetime(2024, 8, 12, 14, 35, 21, 632000, tzinfo=UTC)
    assert some(trade.market_close).id is None  # "market_close": {}
    assert some(trade.reduce_funds).steps == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_fixture_is_fully_modelled(name: str) -> None:
    decode_and_check(name)


def test_list_fixture_with_failed_trade() -> None:
    trades = decode_and_check("list_smart_trades_200.json")
    assert len(trades) == 1
    failed = trades[0]
    assert failed.status.basic_type == "failed"
    assert failed.status.error == "You need to pass KYC on the exchange to trade on this pair"
    assert failed.position.status.error == failed.status.error
    assert failed.data.closed_at == datetime(2024, 4, 5, 2, 54, 39, 45000, tzinfo=UTC)
    assert failed.data.current_price.quote_volume == Decimal("4062766.6804568596516")
    assert failed.data.commission == Decimal("0.001")  # a JSON string here


def test_create_fixture() -> None:
    trade = decode_and_check("create_smart_trade_201.json")
    assert trade.instant is True
    assert trade.data.type == "simple_buy"
    assert trade.position.total.value == Decimal("562.8373")
    assert trade.take_profit.enabled is False
    assert trade.take_profit.steps == []
    assert trade.profit.volume is None


def test_get_fixture() -> None:
    trade = decode_and_check("get_smart_trade_200.json")
    assert trade.status.type == "cancelled"
    assert trade.data.closed_at is not None
    assert trade.data.closed_at > trade.data.created_at
    assert trade.position.price.value_without_commission == Decimal("0.10559")


def test_trades_fixture() -> None:
    trades = decode_and_check("trades_200.json")
    entry, stop = trades
    assert entry.trade_purpose == "position"
    # 36 significant digits survive: no float on the way
    assert entry.average_price == Decimal("0.107068273092369477911646586345381526")
    assert entry.realised_percentage == Decimal("100")
    assert stop.trade_purpose == "stop_loss"
    assert stop.trigger_condition == "less_or_equal"
    assert stop.trigger_price == Decimal("0.1013")
    assert stop.average_price is None
    assert stop.created_at == datetime(2024, 8, 12, 16, 24, 38, 461000, tzinfo=UTC)


def test_reduce_funds_info_fixture() -> None:
    info = decode_and_check("reduce_funds_info_200.json")
    assert info.max_reduce_funds_amount == Decimal("28.819532219570405727923627685")


def test_nested_parts_from_other_examples() -> None:
    reduced = decode_and_check("reduce_funds_201.json")
    step = reduced.reduce_funds.steps[0]
    assert (step.id, step.type, step.status.type) == (1224983548, "market", "idle")
    assert step.price.value_without_commission == Decimal("0.03702")
    assert step.data.cancelable is False
    closing = decode_and_check("close_by_market_201.json")
    assert closing.position.order_type == "conditional"
    assert closing.position.conditional.price.type == "bid"
    assert closing.position.conditional.order_type == "limit"
    entity = decode_and_check("smart_trade_entity.json")
    assert entity.stop_loss.conditional.price.value == Decimal("0.1013")
    assert entity.stop_loss.timeout.enabled is False
    added = decode_and_check("add_funds_201.json")
    assert added.position.total.value_without_commission == Decimal("4.54626774")
    assert added.take_profit.steps[0].price.percent == Decimal("5.0")


# -- single behaviours --------------------------------------------------------------------------------------


def test_decimal_from_json_number_and_string_alike() -> None:
    from_number = SMART_TRADE_DECODER.decode(b'{"data": {"commission": 0.001, "missing_funds_to_close": 0}}')
    from_string = SMART_TRADE_DECODER.decode(
        b'{"data": {"commission": "0.001", "missing_funds_to_close": "0.0"}}'
    )
    for trade in (from_number, from_string):
        data = some(trade.data)
        assert type(data.commission) is Decimal
        assert data.commission == Decimal("0.001")
        assert data.missing_funds_to_close == 0
    assert from_number == from_string


def test_empty_object_gives_defaults() -> None:
    """An absent key gives the default: an empty object, ``[]`` or ``None`` (never ``None`` for an object)."""
    trade = SMART_TRADE_DECODER.decode(b"{}")
    assert trade == SmartTrade()
    assert trade.id is None
    assert trade.status == Status()
    assert some(trade.position).units == Units()
    assert some(trade.take_profit).steps == []
    assert some(trade.data).current_price == CurrentPrice()


def test_null_nested_objects_and_lists_decode_to_none() -> None:
    """``null`` for a whole object or array gives ``None`` (not the default an absent key gives)."""
    trade = SMART_TRADE_DECODER.decode(
        b'{"id": 1, "stop_loss": null, "position": {"units": null, "type": "buy"},'
        b' "take_profit": {"steps": null}, "reduce_funds": {"steps": [{"status": null, "data": null}]},'
        b' "data": {"current_price": null, "type": "simple_buy"}}'
    )
    assert trade.id == 1
    assert trade.stop_loss is None
    position = some(trade.position)
    assert position.units is None
    assert position.type == "buy"
    assert position.price == Price()  # absent beside a null sibling: still the default
    assert some(trade.take_profit).steps is None
    step = some(some(trade.reduce_funds).steps)[0]
    assert (step.status, step.data) == (None, None)
    assert some(trade.data).current_price is None
    assert some(trade.data).type == "simple_buy"
    # every top-level object null at once: the cancel answer of a degraded server still decodes
    every_object = {f.encode_name: None for f in msgspec.structs.fields(SmartTrade)}
    assert SMART_TRADE_DECODER.decode(json.dumps(every_object)) == SmartTrade(
        **{f.name: None for f in msgspec.structs.fields(SmartTrade)}
    )


def test_null_item_of_an_array_is_still_an_error() -> None:
    """Only fields are optional; an array item is not (``steps`` iterates over Structs, never ``None``)."""
    with pytest.raises(msgspec.ValidationError) as info:
        SMART_TRADE_DECODER.decode(b'{"take_profit": {"steps": [null]}}')
    assert str(info.value).endswith("- at `$.take_profit.steps[0]`")


def test_unknown_enum_values_and_fields_decode() -> None:
    trade = SMART_TRADE_DECODER.decode(
        b'{"status": {"type": "teleported", "basic_type": "teleported", "new": {"x": [1]}},'
        b' "data": {"type": "smart_quantum"}, "brand_new": 1}'
    )
    assert some(trade.status).type == "teleported"
    assert some(trade.data).type == "smart_quantum"


def test_naive_timestamp_is_rejected_with_its_path() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"timezone.*`\$\.data\.created_at`"):
        SMART_TRADE_DECODER.decode(b'{"data": {"created_at": "2024-08-12T14:35:21.632"}}')


def test_wrong_type_names_the_path() -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        SMART_TRADE_DECODER.decode(b'{"position": {"units": {"value": [1]}}}')
    assert str(info.value).endswith("- at `$.position.units.value`")
    with pytest.raises(msgspec.ValidationError) as info:
        SMART_TRADE_LIST_DECODER.decode(b'[{}, {"take_profit": {"steps": [{"price": {"value": {}}}]}}]')
    assert str(info.value).endswith("- at `$[1].take_profit.steps[0].price.value`")


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (b'{"stop_loss": "cancelled"}', "$.stop_loss"),
        (b'{"position": {"units": 7}}', "$.position.units"),
        (b'{"position": {"units": "14.91"}}', "$.position.units"),
        (b'{"take_profit": {"steps": {}}}', "$.take_profit.steps"),
        (b'{"take_profit": {"steps": "none"}}', "$.take_profit.steps"),
        (b'{"data": {"current_price": [0.1]}}', "$.data.current_price"),
    ],
)
def test_wrong_type_for_a_nullable_object_still_fails(document: bytes, path: str) -> None:
    """Accepting ``null`` widened the type by ``null`` only: a string or number where an object or array
    belongs is still an error, naming the path."""
    with pytest.raises(msgspec.ValidationError, match=r"Expected `(object|array) \| null`, got") as info:
        SMART_TRADE_DECODER.decode(document)
    assert str(info.value).endswith(f"- at `{path}`")


def test_response_structs_are_frozen_and_untracked() -> None:
    trade = SMART_TRADE_DECODER.decode(raw("cancel_smart_trade_200.json"))
    with pytest.raises(AttributeError):
        trade.id = 1  # type: ignore[misc]
    assert not gc.is_tracked(trade)
    assert not gc.is_tracked(some(some(trade.take_profit).steps)[0])
    trades = TRADE_LIST_DECODER.decode(raw("trades_200.json"))
    assert not gc.is_tracked(trades[0])


def test_public_names() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
    public = set(models.__all__)
    assert {"SmartTrade", "Trade", "ReduceFundsInfo", "SmartTradeCreate", "SmartTradeUpdate"} <= public
    assert {"AddFundsParams", "ReduceFundsParams"} <= public
    assert not any(name.endswith(("_DECODER", "_ENCODER")) for name in models.__all__)
    assert models.SMART_TRADE_DECODER is SMART_TRADE_DECODER


def response_structs(
    ti: mi.Type, seen: dict[type[msgspec.Struct], mi.StructType] | None = None
) -> dict[type[msgspec.Struct], mi.StructType]:
    """Every Struct type reachable from ``ti`` (through fields, unions and list items)."""
    seen = {} if seen is None else seen
    if isinstance(ti, mi.UnionType):
        for member in ti.types:
            response_structs(member, seen)
    elif isinstance(ti, mi.ListType):
        response_structs(ti.item_type, seen)
    elif isinstance(ti, mi.StructType) and ti.cls not in seen:
        seen[ti.cls] = ti
        for f in ti.fields:
            response_structs(f.type, seen)
    return seen


def test_every_response_field_accepts_null_and_defaults_to_empty() -> None:
    """The contract behind the null property, field by field: every field of every response Struct accepts
    ``null``; for an absent key a nested object is its empty Struct, an array ``[]``, a scalar ``None``."""
    structs: dict[type[msgspec.Struct], mi.StructType] = {}
    for _, target in CASES.values():
        response_structs(mi.type_info(target), structs)
    exported = {c for c in vars(models).values() if isinstance(c, type) and issubclass(c, ResponseStruct)}
    assert set(structs) == exported, "every public response Struct is reachable from a decoder"
    nested = 0
    for cls, info in structs.items():
        assert cls.__struct_config__.frozen, cls.__name__
        for f in info.fields:
            where = f"{cls.__name__}.{f.name}"
            assert _allows_null(f.type), f"{where} does not accept null"
            default = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
            members = _non_null(f.type)
            if any(isinstance(m, mi.StructType | mi.ListType) for m in members):
                assert len(members) == 1, f"{where}: an object or array in a union with other types"
                (member,) = members
                if isinstance(member, mi.StructType):
                    assert type(default) is member.cls, f"{where}: absent should give an empty object"
                    assert default == member.cls(), f"{where}: absent should give an empty object"
                else:
                    assert default == [], f"{where}: absent should give []"
                nested += 1
            else:
                assert default is None, f"{where}: absent should give None"
    assert nested >= 41  # the nested objects and arrays of SmartTrade at the time of writing: none skipped


# -- properties: what the server may change must not break decoding ----------------------------------------


@dataclass
class Sites:
    """Where a document may be mutated, found by walking it alongside the model's declared types."""

    objects: list[tuple[JsonPath, frozenset[str]]] = field(default_factory=list)  # dicts, and their fields
    nullable: list[JsonPath] = field(default_factory=list)  # every key's non-null value, of any kind
    nested: set[JsonPath] = field(default_factory=set)  # the nullable ones that are objects or arrays
    decimals: list[JsonPath] = field(default_factory=list)  # Decimal leaves (JSON string or number)
    values: list[tuple[JsonPath, mi.Type]] = field(default_factory=list)  # every modelled value present


def find_sites(value: Any, ti: mi.Type, path: JsonPath = (), sites: Sites | None = None) -> Sites:
    sites = Sites() if sites is None else sites
    if path:
        sites.values.append((path, ti))
    if value is None:
        return sites
    member = _member_for(ti, value)
    assert member is not None, fmt(path)
    # Every key of every object, at any depth: scalars, whole objects and whole arrays -- whatever the model
    # declares (the point is to check that declaration). Array items are not keys and stay non-null.
    if path and isinstance(path[-1], str):
        sites.nullable.append(path)
        if isinstance(member, mi.StructType | mi.ListType):
            sites.nested.add(path)
    if isinstance(member, mi.StructType):
        fields = {f.encode_name: f for f in member.fields}
        sites.objects.append((path, frozenset(fields)))
        for key, item in value.items():
            find_sites(item, fields[key].type, (*path, key), sites)
    elif isinstance(member, mi.ListType):
        for i, item in enumerate(value):
            find_sites(item, member.item_type, (*path, i), sites)
    elif isinstance(member, mi.DecimalType):
        sites.decimals.append(path)
    return sites


def get_at(document: Any, path: JsonPath) -> Any:
    for part in path:
        document = document[part]
    return document


def set_at(document: Any, path: JsonPath, value: Any) -> None:
    get_at(document, path[:-1])[path[-1]] = value


def under(path: JsonPath, roots: Iterable[JsonPath]) -> bool:
    """Whether ``path`` is one of ``roots`` or lies inside one of them."""
    return any(path[: len(root)] == root for root in roots)


def with_none_at(decoded: Any, path: JsonPath) -> Any:
    """A copy of the decoded ``decoded`` with the value at the JSON ``path`` replaced by ``None``."""
    if not path:
        return None
    head, rest = path[0], path[1:]
    if isinstance(decoded, list):
        assert isinstance(head, int)
        return [with_none_at(item, rest) if i == head else item for i, item in enumerate(decoded)]
    (name,) = (f.name for f in msgspec.structs.fields(decoded) if f.encode_name == head)
    return msgspec.structs.replace(decoded, **{name: with_none_at(getattr(decoded, name), rest)})


def swap_number_and_string(value: Any) -> Any:
    """``"14.91"`` -> the JSON number 14.91 (a Decimal, encoded as a number); a number -> its string form."""
    return Decimal(value) if isinstance(value, str) else str(value)


NUMBER_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@dataclass
class Mutated:
    name: str
    data: bytes
    extras: frozenset[JsonPath]
    nulled: frozenset[JsonPath]  # the paths set to null (none inside another)
    nested_nulled: bool  # whether a whole object or array was nulled


@st.composite
def mutated_documents(draw: st.DrawFn) -> Mutated:
    name = draw(st.sampled_from(sorted(CASES)))
    document = parse(raw(name))
    sites = find_sites(document, mi.type_info(CASES[name][1]))
    if sites.decimals:
        for path in draw(
            st.lists(st.sampled_from(sites.decimals), unique=True, max_size=len(sites.decimals))
        ):
            set_at(document, path, swap_number_and_string(get_at(document, path)))
    # half of the draws target whole objects and arrays: few among all keys, and the likeliest to break
    nested = sorted(sites.nested, key=fmt)
    anywhere = st.sampled_from(sites.nullable)
    chosen = draw(
        st.lists(anywhere | st.sampled_from(nested) if nested else anywhere, unique=True, max_size=10)
    )
    # outermost first; a path inside an object or array already nulled is gone, so it is skipped
    nulls: set[JsonPath] = set()
    for path in sorted(chosen, key=len):
        if not under(path, nulls):
            set_at(document, path, None)
            nulls.add(path)
    extras: set[JsonPath] = set()
    for (path, fields), key, value in draw(
        st.lists(
            st.tuples(st.sampled_from(sites.objects), st.text(min_size=1, max_size=12), json_values),
            max_size=6,
        )
    ):
        if under(path, nulls):
            continue
        target = get_at(document, path)
        if key in fields or key in target:
            continue
        target[key] = value
        extras.add((*path, key))
    return Mutated(
        name,
        NUMBER_ENCODER.encode(document),
        frozenset(extras),
        frozenset(nulls),
        bool(nulls & sites.nested),
    )


def expected_after_nulls(name: str, nulled: Iterable[JsonPath]) -> Any:
    """The untouched fixture, decoded, with ``None`` at each nulled path and every other value unchanged."""
    expected = CASES[name][0].decode(raw(name))
    for path in nulled:
        expected = with_none_at(expected, path)
    return expected


@given(mutated_documents())
def test_extra_keys_nulls_and_number_forms_never_break_decoding(case: Mutated) -> None:
    nulls = "object or array" if case.nested_nulled else "scalars only" if case.nulled else "none"
    event(f"nulls: {nulls}, extra keys: {bool(case.extras)}")
    decoder, target = CASES[case.name]
    decoded = decoder.decode(case.data)
    check_decoded(parse(case.data), mi.type_info(target), decoded, extras=case.extras)
    # extra keys are ignored and "1.5" == 1.5: apart from the nulled values (now None), the very same value
    # as the untouched fixture -- a null never disturbs a sibling, a parent's other fields or another item
    assert decoded == expected_after_nulls(case.name, case.nulled)


@pytest.mark.parametrize("name", sorted(CASES))
def test_null_at_each_key_alone_decodes(name: str) -> None:
    """Exhaustive companion of the property: every key of the fixture, one at a time, set to null."""
    decoder, target = CASES[name]
    document = parse(raw(name))
    sites = find_sites(document, mi.type_info(target))
    if target in (SmartTrade, list[SmartTrade]):  # Trade and ReduceFundsInfo have scalars only
        assert sites.nested, "the fixture has nested objects to null"
    for path in sites.nullable:
        mutated = parse(raw(name))
        set_at(mutated, path, None)
        decoded = decoder.decode(NUMBER_ENCODER.encode(mutated))
        assert decoded == expected_after_nulls(name, [path]), fmt(path)


WRONG_VALUES: Final[tuple[Any, ...]] = (True, 7, Decimal("1.5"), "text", [], {}, [1, "a"], {"k": "v"})


@st.composite
def wrongly_typed_documents(draw: st.DrawFn) -> tuple[str, bytes, JsonPath]:
    name = draw(st.sampled_from(sorted(CASES)))
    document = parse(raw(name))
    sites = find_sites(document, mi.type_info(CASES[name][1]))
    path, ti = draw(st.sampled_from(sites.values))
    wrong = draw(st.sampled_from([v for v in WRONG_VALUES if _member_for(ti, v) is None]))
    set_at(document, path, wrong)
    return name, NUMBER_ENCODER.encode(document), path


@given(wrongly_typed_documents())
def test_wrong_type_raises_validation_error_naming_the_path(case: tuple[str, bytes, JsonPath]) -> None:
    name, data, path = case
    with pytest.raises(msgspec.ValidationError) as info:
        CASES[name][0].decode(data)
    assert str(info.value).endswith(f"- at `{fmt(path)}`"), str(info.value)


# -- request bodies ------------------------------------------------------------------------------------------


def encoded(params: Any) -> Any:
    return parse(PARAMS_ENCODER.encode(params))


def test_create_encodes_like_the_docs_example() -> None:
    params = SmartTradeCreate(
        account_id=32455218,
        pair="USDT_BTC",
        instant=True,
        position=PositionParams(type="buy", units=UnitsParams(value=Decimal("0.01")), order_type="market"),
        leverage=LeverageParams(enabled=True, type="custom", value=Decimal("12")),
    )
    expected = parse(raw("create_smart_trade_request.json"))
    # The example writes the boolean ``instant`` as the string "true"; the parameter is documented as a
    # boolean and the model sends a JSON boolean. Everything else must match byte for value.
    assert expected["instant"] == "true"
    expected["instant"] = True
    assert encoded(params) == expected


def test_update_encodes_like_the_docs_example() -> None:
    params = SmartTradeUpdate(
        position=PositionParams(
            type="buy",
            units=UnitsParams(value=Decimal("34.0")),
            price=PriceParams(value=Decimal("0.00000442")),
        ),
        take_profit=TakeProfitParams(
            enabled=True,
            steps=[
                TakeProfitStepParams(
                    id=1225026814,
                    order_type="limit",
                    units=UnitsParams(value=Decimal("34.0")),
                    price=PriceParams(type="last", value=Decimal("0.00000508")),
                    volume=Decimal("100.0"),
                    total=Decimal("0.00017272"),
                    trailing=TrailingParams(enabled=False),
                )
            ],
        ),
        stop_loss=StopLossParams(
            enabled=True,
            order_type="market",
            conditional=ConditionalParams(
                price=PriceParams(type="last", value=Decimal("0.00000280")),
                trailing=TrailingParams(enabled=False),
            ),
        ),
    )
    assert encoded(params) == parse(raw("update_smart_trade_request.json"))


def test_reduce_funds_encodes_like_the_docs_example() -> None:
    params = ReduceFundsParams(
        order_type="limit",
        units=UnitsParams(value=Decimal("0.04")),
        price=PriceParams(value=Decimal("0.03711")),
    )
    assert encoded(params) == parse(raw("reduce_funds_request.json"))


def test_unset_fields_are_not_sent() -> None:
    assert PARAMS_ENCODER.encode(SmartTradeCreate(account_id=1, pair="USDT_BTC")) == (
        b'{"account_id":1,"pair":"USDT_BTC"}'
    )
    assert PARAMS_ENCODER.encode(SmartTradeUpdate()) == b"{}"
    assert PARAMS_ENCODER.encode(TakeProfitParams(enabled=False)) == b'{"enabled":false}'
    stop_loss = StopLossParams(enabled=True, timeout=TimeoutParams(enabled=True, value=60))
    assert PARAMS_ENCODER.encode(stop_loss) == b'{"enabled":true,"timeout":{"enabled":true,"value":60}}'
    # a value set explicitly to something falsy but not the default is sent
    assert PARAMS_ENCODER.encode(SmartTradeCreate(account_id=1, pair="P", instant=False, note="n")) == (
        b'{"account_id":1,"pair":"P","instant":false,"note":"n"}'
    )


def test_amounts_go_out_as_strings_with_their_digits() -> None:
    params = AddFundsParams(order_type="market", units=UnitsParams(value=Decimal("14.60138200")))
    body = PARAMS_ENCODER.encode(params)
    assert body == b'{"order_type":"market","units":{"value":"14.60138200"}}'


def test_struct_and_mapping_give_the_same_bytes() -> None:
    struct = SmartTradeCreate(
        account_id=32455218,
        pair="USDT_BTC",
        note="from a test",
        position=PositionParams(
            type="buy",
            order_type="limit",
            units=UnitsParams(value=Decimal("0.01")),
            price=PriceParams(value=Decimal("56000.5")),
        ),
        take_profit=TakeProfitParams(
            enabled=True,
            steps=[
                TakeProfitStepParams(
                    order_type="limit",
                    price=PriceParams(type="last", percent=Decimal("5")),
                    volume=Decimal("100"),
                    trailing=TrailingParams(enabled=True, percent=Decimal("1.5")),
                )
            ],
        ),
        stop_loss=StopLossParams(enabled=True, breakeven=False, order_type="market"),
    )
    mapping = {
        "account_id": 32455218,
        "pair": "USDT_BTC",
        "note": "from a test",
        "position": {
            "type": "buy",
            "order_type": "limit",
            "units": {"value": Decimal("0.01")},
            "price": {"value": Decimal("56000.5")},
        },
        "take_profit": {
            "enabled": True,
            "steps": [
                {
                    "order_type": "limit",
                    "price": {"type": "last", "percent": Decimal("5")},
                    "volume": Decimal("100"),
                    "trailing": {"enabled": True, "percent": Decimal("1.5")},
                }
            ],
        },
        "stop_loss": {"enabled": True, "breakeven": False, "order_type": "market"},
    }
    assert PARAMS_ENCODER.encode(struct) == PARAMS_ENCODER.encode(mapping)
    # and the bytes decode back to the same Struct (what a server-side decoder of these types sees)
    assert msgspec.json.decode(PARAMS_ENCODER.encode(mapping), type=SmartTradeCreate) == struct


def test_note_length_is_checked_on_decode_only() -> None:
    too_long = SmartTradeCreate(account_id=1, pair="USDT_BTC", note="x" * 301)
    body = PARAMS_ENCODER.encode(too_long)  # encoding never validates
    with pytest.raises(msgspec.ValidationError, match=r"length <= 300 - at `\$\.note`"):
        msgspec.json.decode(body, type=SmartTradeCreate)
    ok = SmartTradeCreate(account_id=1, pair="USDT_BTC", note="x" * 300)
    assert msgspec.json.decode(PARAMS_ENCODER.encode(ok), type=SmartTradeCreate) == ok


def test_required_params_must_be_given() -> None:
    with pytest.raises(TypeError, match="account_id"):
        SmartTradeCreate(pair="USDT_BTC")  # type: ignore[call-arg]
    with pytest.raises(msgspec.ValidationError, match=r"missing required field `units`"):
        msgspec.json.decode(b'{"order_type": "market"}', type=AddFundsParams)
