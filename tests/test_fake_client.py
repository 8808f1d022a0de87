"""FakeThreeCommas hands out a client that matches it: its URL, its keys and the twin of its limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from threecommas_async import EndpointLimit, RateLimit, ThreeCommasClient
from threecommas_async.testing import FakeThreeCommas, RateLimitRule, RateLimits

pytestmark = pytest.mark.integration

RSA_PEM = (Path(__file__).parent / "fixtures" / "rsa_test_private_key.pem").read_text()
LIST = "GET /v2/smart_trades"


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (
            RateLimits(),
            RateLimit(
                100, 60.0, cooldown=300.0, endpoints={LIST: EndpointLimit(40, 10.0, 10.0)}, ban_duration=120.0
            ),
        ),
        (
            RateLimits.scaled(120),
            RateLimit(
                100, 0.5, cooldown=2.5, endpoints={LIST: EndpointLimit(40, 1 / 12, 1 / 12)}, ban_duration=1.0
            ),
        ),
        (
            RateLimits(global_rule=RateLimitRule(7, 3.0, 9.0), list_rule=None, ban=5.0),
            RateLimit(7, 3.0, cooldown=9.0, endpoints={}, ban_duration=5.0),
        ),
        (None, None),
        (RateLimits(global_rule=None, list_rule=None), None),
    ],
)
def test_client_rate_limit_is_the_twin_of_the_servers(
    limits: RateLimits | None, expected: RateLimit | None
) -> None:
    server = FakeThreeCommas(rate_limit=limits)
    got = server.client_rate_limit()
    if expected is None:
        assert got is None
        return
    assert got is not None
    # A storage of the server's own: a 429 a test provokes here pauses no other server's clients.
    assert got.storage.startswith("memory://FakeThreeCommas-")
    other = FakeThreeCommas(rate_limit=limits).client_rate_limit()
    assert other is not None and other.storage != got.storage
    assert dataclasses.replace(got, storage="memory://") == expected
    assert server.client_rate_limit(storage="memory://mine") == dataclasses.replace(
        expected, storage="memory://mine"
    )


def test_client_rate_limit_without_a_global_rule_and_with_changes() -> None:
    server = FakeThreeCommas(rate_limit=RateLimits(global_rule=None, list_rule=RateLimitRule(4, 2.0, 3.0)))
    got = server.client_rate_limit(max_wait=5.0)
    assert got is not None
    assert got.endpoints == {LIST: EndpointLimit(4, 2.0, 3.0)}
    assert got.max_rate >= 1_000_000  # nothing global to keep to
    assert got.cooldown == 300.0  # what an injected 429 blocks for without a global rule
    assert got.max_wait == 5.0


@pytest.mark.fake_3commas(rate_limit=RateLimits.scaled(120), cancel_delay=0)
async def test_a_client_from_the_server_cancels_300_trades_without_a_429_or_418(
    fake_3commas: FakeThreeCommas,
) -> None:
    ids = fake_3commas.seed_trades(300)
    async with fake_3commas.client() as client:
        results = [r async for r in client.smart_trades.cancel_many(ids, concurrency=32)]
    assert sorted(r.id for r in results if r.ok) == ids
    stats = fake_3commas.stats
    assert (stats.status_429, stats.status_418) == (0, 0)
    assert stats.by_route == {"cancel": 300}
    assert fake_3commas.busiest_window() <= 100  # 100 per 0.5 s, never more
    assert all(fake_3commas.history(i)[1].cause == "cancel" for i in ids)


async def test_client_overrides_another_hmac_key_or_an_rsa_key() -> None:
    async with FakeThreeCommas(rate_limit=None, cancel_delay=0) as server:
        tid = server.add_trade()
        other_key, other_secret = server.new_key()
        server.add_key("rsa-key", public_key=RSA_PEM)
        async with server.client(api_key=other_key, api_secret=other_secret) as client:
            assert (await client.smart_trades.get(tid)).id == tid
        async with server.client(api_key="rsa-key", private_key=RSA_PEM, retry=None) as client:
            cancelled = await client.smart_trades.cancel(tid)
        assert cancelled.status is not None and cancelled.status.type == "cancellation_pending"
        assert set(server.stats.by_key) == {other_key, "rsa-key"}
        assert server.stats.status_401 == 0
        assert server.client().base_url == server.base_url
    with pytest.raises(RuntimeError, match="not started"):
        server.client()


@pytest.mark.fake_3commas(cancel_delay=0)
async def test_the_client_fixture_talks_to_the_server_fixture(
    fake_3commas: FakeThreeCommas, fake_3commas_client: ThreeCommasClient
) -> None:
    tid = fake_3commas.add_trade()
    assert fake_3commas_client.base_url == fake_3commas.base_url
    assert (await fake_3commas_client.smart_trades.cancel(tid)).id == tid
    assert fake_3commas.trade_status(tid) == "cancelled"
    assert fake_3commas.history(tid)[1].api_key == fake_3commas.api_key
