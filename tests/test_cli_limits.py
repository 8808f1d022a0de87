"""Consecutive commands share one allowance: the command line keeps the limiter's state in a SQLite file of
the user's state directory by default, so a command never walks into the 429 or ban the one before
provoked. Each command runs as its own ``main()`` with its own client, as separate processes would."""

from __future__ import annotations

from pathlib import Path

import pytest

from threecommas_async.cli._settings import limits_storage
from threecommas_async.testing import FakeThreeCommas, RateLimits

from .cli_support import cli

pytestmark = pytest.mark.integration

SCALE = 60.0  # a minute of 3Commas' limits in a second


async def back_to_back(server: FakeThreeCommas, env: list[dict[str, str]]) -> list[int]:
    ids = server.seed_trades(130)
    codes = []
    commands = (
        ["smart-trades", "cancel", *map(str, ids[:100])],
        ["smart-trades", "list", "--status", "active"],
        ["smart-trades", "get", str(ids[-1])],
    )
    for argv, extra in zip(commands, env, strict=True):
        run = await cli(server, *argv, env=extra, time_scale=SCALE)
        codes.append(run.code)
    return codes


async def test_back_to_back_commands_never_walk_into_a_429(tmp_path: Path) -> None:
    async with FakeThreeCommas(rate_limit=RateLimits.scaled(SCALE)) as server:
        default = {"THREECOMMAS_LIMITS_STORAGE": "", "XDG_STATE_HOME": str(tmp_path)}
        codes = await back_to_back(server, [default] * 3)
        assert codes == [0, 0, 0]
        assert server.stats.status_429 == 0 and server.stats.status_418 == 0
    assert (tmp_path / "threecommas-async" / "limits.db").is_file()


async def test_without_a_shared_storage_the_second_command_meets_the_server_s_block() -> None:
    """The same three commands, each with a storage of its own (as separate processes with memory://)."""
    async with FakeThreeCommas(rate_limit=RateLimits.scaled(SCALE)) as server:
        alone = [{"THREECOMMAS_LIMITS_STORAGE": f"memory://command-{i}"} for i in range(3)]
        await back_to_back(server, alone)
        assert server.stats.status_429 > 0  # what the shared default prevents


def test_the_default_storage_is_a_file_in_the_state_directory() -> None:
    class Args:
        limits_storage = None

    assert limits_storage(Args(), {"XDG_STATE_HOME": "/s"}) == "sqlite:///s/threecommas-async/limits.db"  # type: ignore[arg-type]
    assert limits_storage(Args(), {"HOME": "/h"}) == "sqlite:///h/.local/state/threecommas-async/limits.db"  # type: ignore[arg-type]
    assert limits_storage(Args(), {"THREECOMMAS_LIMITS_STORAGE": "redis://r:6379/0"}) == "redis://r:6379/0"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["rediss//:PASSWORD77@redis.example:6379/0", "bogus://:PASSWORD77@redis.example:6379/0"]
)
async def test_a_mistyped_storage_url_is_refused_without_its_password(url: str) -> None:
    async with FakeThreeCommas() as server:
        run = await cli(server, "smart-trades", "list", "--limits-storage", url)
    assert run.code == 2
    assert "redis.example" in run.err and "PASSWORD77" not in run.err + run.out
