"""The operator's panic button, in-process: secrets never shown whatever their source, usage errors that
are usage errors, progress that tells the truth under 3Commas' rate limits, and cool-downs announced
once and waited out on request. Rate-limit scenarios run the fake at ``RateLimits.scaled(k)`` and the
command at ``time_scale=k``, so a minute of 3Commas' limits passes in ``60/k`` seconds.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Final

import pytest

from threecommas_async._status import CANCELLING, CLOSED_BY_MARKET, LIST_FILTERS
from threecommas_async.cli import Console, main
from threecommas_async.testing import FakeThreeCommas, RateLimits

from .cli_support import Run, Terminal, Timed, cli, deletes

pytestmark = pytest.mark.integration

FIXTURES: Final = Path(__file__).parent / "fixtures"
SECRET: Final = "S3CR3T-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
"""A recognisable secret: every test below asserts it shows nowhere (``cli`` checks each run)."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # closed again before the command runs: nothing listens there
    return port


# -- 1. no output ever contains a credential's value ---------------------------------------------------
async def test_a_secret_from_the_environment_typed_as_an_argument_is_not_shown(
    fake_3commas: FakeThreeCommas,
) -> None:
    server = fake_3commas
    # export THREECOMMAS_API_SECRET=...; threecommas-async smart-trades get $THREECOMMAS_API_SECRET
    runs = await asyncio.gather(
        cli(server, "smart-trades", "get", SECRET, api_secret=SECRET),
        cli(server, SECRET, "list", api_secret=SECRET),  # in the command's place: "invalid choice"
        cli(server, "smart-trades", "cancel", "1", f"--concurrency={SECRET}", api_secret=SECRET),
        cli(server, "smart-trades", "list", "--json=" + SECRET, api_secret=SECRET),  # "ignored explicit"
        # and given by flag, then typed again where an id belongs
        cli(server, "--api-secret", SECRET, "smart-trades", "get", SECRET, api_secret="another-one"),
    )
    for run in runs:
        assert run.code == 2
        assert SECRET not in run.out + run.err
        assert "usage:" in run.err
    assert "argument ID: not a whole number" in runs[0].err
    assert "invalid choice: '(not shown)'" in runs[1].err
    assert server.stats.requests == 0


async def test_the_base_url_is_never_shown_from_the_environment_or_the_flag() -> None:
    port = _closed_port()
    token_url = f"http://127.0.0.1:{port}/{SECRET}/public/api"
    token_host = f"https://{SECRET.lower()}.proxy.invalid/public/api"
    runs = await _base_url_runs(port, token_url, token_host)
    unusable_env, unusable_flag, unreachable_env, unreachable_flag, unresolvable = runs
    for run in (unusable_env, unusable_flag):
        assert run.code == 2
        assert run.err.startswith("threecommas-async: unusable settings: base_url must be")
    for run in (unreachable_env, unreachable_flag, unresolvable):
        assert run.code == 6, run.err
        assert "connection failed" in run.err
        assert f"127.0.0.1:{port}/" not in run.err and "proxy.invalid" not in run.err.replace(
            "(the base URL)", ""
        )
    assert "(the base URL)" in unreachable_flag.err


async def _base_url_runs(port: int, token_url: str, token_host: str) -> list[Run]:
    def run(*args: str, base_url: str | None = None) -> Awaitable[Run]:
        env = {} if base_url is None else {"THREECOMMAS_BASE_URL": base_url}
        secrets = (SECRET, SECRET.lower())
        return cli(None, *args, api_key="key", api_secret="some-secret-value", env=env, secrets=secrets)

    return list(
        await asyncio.gather(
            run("smart-trades", "list", base_url=SECRET),
            run("--base-url", f"ftp://{SECRET}/", "smart-trades", "list"),
            run("smart-trades", "get", "1", base_url=token_url),
            run("--base-url", token_url, "smart-trades", "get", "1"),
            run("--base-url", token_host, "smart-trades", "get", "1"),
        )
    )


async def test_a_pasted_private_key_is_not_shown(tmp_path: Path) -> None:
    pem = (FIXTURES / "rsa_test_private_key.pem").read_text()
    body = [line for line in pem.splitlines() if not line.startswith("-----")]
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem)
    env = {"THREECOMMAS_PRIVATE_KEY_FILE": str(key_file)}
    runs = await asyncio.gather(
        # the key file's contents typed where an id or a command belongs, the file named by the variable
        cli(None, "smart-trades", "get", pem, api_key="key", env=env),
        cli(None, pem.strip(), api_key="key", env=env),
        # the same with the file named by the flag
        cli(None, "--private-key-file", str(key_file), pem.strip(), api_key="key"),
    )
    for run in runs:
        assert run.code == 2
        text = run.out + run.err
        assert not [line for line in body if line in text]
        assert not [line for line in body if repr(line)[1:-1] in text]


# -- 2. usage errors are usage errors -------------------------------------------------------------------
async def test_out_of_range_options_are_usage_errors() -> None:
    runs = await asyncio.gather(
        cli(None, "demo", "--trades", "0"),
        cli(None, "demo", "--fault-rate", "1.5"),
        cli(None, "demo", "--concurrency", "0"),
        cli(None, "demo", "--fault-rate", "nan"),
        cli(None, "smart-trades", "cancel", "1", "--max-wait", "-1", api_key="k", api_secret="some-secret"),
        cli(
            None,
            "smart-trades",
            "cancel",
            "1",
            "--wait",
            "--max-wait",
            "5",
            api_key="k",
            api_secret="some-secret",
        ),
    )
    for run in runs:
        assert run.code == 2
        *usage, last = run.err.splitlines()
        assert usage[0].startswith("usage: threecommas-async")
        assert re.match(r"threecommas-async [\w -]+: error: argument --[\w-]+: ", last), last
    assert runs[0].err.endswith("error: argument --trades: must be at least 1\n")
    assert "argument --fault-rate: must be at least 0 and less than 1" in runs[1].err
    assert "not allowed with argument" in runs[5].err


async def test_status_filters_are_checked_before_anything_is_sent(fake_3commas: FakeThreeCommas) -> None:
    run = await cli(fake_3commas, "smart-trades", "list", "--status", "bogus")
    assert run.code == 2
    assert f"argument --status: not a status filter: choose from {', '.join(LIST_FILTERS)}" in run.err
    assert fake_3commas.stats.requests == 0
    fake_3commas.seed_trades(2)
    ok = await cli(fake_3commas, "--json", "smart-trades", "list", "--status", " Active ")
    assert ok.code == 0, ok.err
    assert "status=active" in fake_3commas.requests[-1].query


async def test_a_max_rate_above_the_documented_limit_needs_force(fake_3commas: FakeThreeCommas) -> None:
    fake_3commas.seed_trades(1)
    refused, forced, documented = await asyncio.gather(
        cli(fake_3commas, "--max-rate", "150", "smart-trades", "cancel-all", "--yes"),
        cli(fake_3commas, "--max-rate", "150", "--force", "smart-trades", "list"),
        cli(fake_3commas, "smart-trades", "list", "--max-rate", "100"),
    )
    assert refused.code == 2
    assert refused.err.startswith(
        "threecommas-async: --max-rate 150 is above 3Commas' documented limit of 100 requests per minute: "
        "above it 3Commas answers 429"
    )
    assert "bans the IP" in refused.err and "--force" in refused.err
    assert deletes(fake_3commas) == []
    assert forced.code == 0, forced.err
    assert documented.code == 0, documented.err


def test_fake_server_on_a_busy_port_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out, err = io.StringIO(), io.StringIO()
        code = main(["fake-server", "--port", str(port)], console=Console({}, io.StringIO(), out, err))
    assert code == 2
    assert err.getvalue().startswith("threecommas-async: fake-server cannot listen: ")
    assert "address already in use" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1 and "Traceback" not in err.getvalue()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--port", "70000", "a port is 0 to 65535"),
        ("--rate-limit-speedup", "-1", "a positive factor"),
        ("--seed-trades", "-3", "0 to 10,000,000 trades"),
        ("--cancel-delay", "nan", "0 to 86,400 seconds"),
    ],
)
def test_fake_server_options_out_of_range_are_usage_errors(option: str, value: str, says: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["fake-server", option, value], console=Console({}, io.StringIO(), out, err))
    assert code == 2
    assert f"argument {option}: {says}" in err.getvalue() and "Traceback" not in err.getvalue()


# -- 4. the progress tells the truth under rate limits --------------------------------------------------
async def test_progress_and_rows_stream_while_the_rate_limit_holds_cancels_back() -> None:
    async def cancel_150(*mode: str, stderr: io.StringIO) -> tuple[Run, Timed, FakeThreeCommas]:
        # 3Commas' documented limits, a minute lasting one second: 150 cancels need two "minutes"
        async with FakeThreeCommas(rate_limit=RateLimits.scaled(60)) as server:
            ids = server.seed_trades(150)
            stdout = Timed()
            argv = [*mode, "smart-trades", "cancel", *map(str, ids)]
            run = await cli(server, *argv, stdout=stdout, stderr=stderr, time_scale=60)
            assert all(server.trade_status(i) in CANCELLING for i in ids)
            assert server.stats.status_429 == 0 and server.stats.status_418 == 0
            return run, stdout, server

    (table, table_out, _), (as_json, json_out, _), (on_tty, _, _) = await asyncio.gather(
        cancel_150(stderr=io.StringIO()),
        cancel_150("--json", stderr=io.StringIO()),
        cancel_150(stderr=Terminal()),
    )
    for run in (table, as_json, on_tty):
        assert run.code == 0, run.err
    # Without a terminal: a line at a steady interval, saying what the client waits for
    waiting = re.findall(
        r"^cancelling: (\d+)/150 settled, waiting (\d+\.\d) s for 3Commas' limit: 100 requests/min$",
        table.err,
        re.M,
    )
    # the first window's settled as they came (up to 8 in flight), then the wait for the second "minute"
    assert waiting and 92 <= int(waiting[0][0]) <= 100 and float(waiting[0][1]) >= 0.5
    assert re.search(r"^cancelling: 1\d\d/150 settled", table.err, re.M)  # then the second window's
    # Rows and JSON lines are written as results settle, not at the end: the first window's a whole
    # "minute" (1 s) before the second window's
    for stream in (table_out, json_out):
        rows = [t for t, text in stream.writes if re.match(r"\s*\d+  ", text) or '"cancel_result"' in text]
        assert len(rows) == 150
        assert rows[100] - rows[0] > 0.8  # the second minute's first row comes about a minute after the first
    assert len(as_json.json_lines()) == 150
    # On a terminal: the bar counts and shows the wait
    assert "cancelling" in on_tty.err and "for 3Commas' limit: 100 requests/min" in on_tty.err
    assert "\r" in on_tty.err


# -- 5. one message per cool-down, and a panic cancel that can wait ------------------------------------
async def test_wait_and_max_wait_let_the_cancels_out_after_a_cool_down() -> None:
    async def after_a_429(*options: str, route: str = "cancel") -> tuple[Run, FakeThreeCommas, list[int]]:
        # 3Commas' limits at 300x: a 429 without Retry-After blocks every request for 1 s (300 s)
        async with FakeThreeCommas(rate_limit=RateLimits.scaled(300)) as server:
            ids = server.seed_trades(12)
            server.faults.add("rate_limit", route=route, times=1)
            if route == "cancel":
                argv = ["smart-trades", "cancel", *map(str, ids), *options]
            else:
                argv = ["smart-trades", "close-by-market", str(ids[0]), *options]
            run = await cli(server, *argv, time_scale=300)
            assert server.stats.status_418 == 0  # waiting it out never earns a ban
            return run, server, ids

    (
        (waited, server, ids),
        (patient, _, _),
        (impatient, _, _),
        (default, _, _),
        (closed, closer, closed_ids),
    ) = await asyncio.gather(
        after_a_429("--wait"),
        after_a_429("--max-wait", "600"),
        after_a_429("--max-wait", "100"),
        after_a_429(),
        after_a_429("--wait", route="close_by_market"),
    )
    assert waited.code == 0, waited.err
    assert all(server.trade_status(i) in CANCELLING for i in ids)
    assert "12 SmartTrades: 12 cancelled, 0 already final, 0 failed" in waited.out
    # one line for the cool-down however many cancels it held, none per retry, and a countdown
    announced = re.findall(
        r"^threecommas-async: rate limited by 3Commas \(429 on DELETE .*$", waited.err, re.M
    )
    assert len(announced) == 1
    assert re.search(r": waiting \d\.\d s for its cool-down, then sending again$", announced[0])
    assert "retrying" not in waited.err
    assert re.search(
        r"^cancelling: \d+/12 settled, waiting \d\.\d s for 3Commas' cool-down after a 429$", waited.err, re.M
    )
    assert patient.code == 0, patient.err
    for run in (impatient, default):
        assert run.code == 5
        assert "is longer than the client waits" in run.err and "--wait waits it out" in run.err
        assert re.search(
            r"^threecommas-async: \d+ SmartTrades? failed: rate limited by 3Commas", run.err, re.M
        )
        assert "rerun with --wait to wait it out" in run.err
        assert "retrying" not in run.err
    assert closed.code == 0, closed.err
    assert closer.trade_status(closed_ids[0]) in CLOSED_BY_MARKET
    assert re.search(
        r"^closing: 0/1 settled, waiting \d\.\d s for 3Commas' cool-down after a 429$", closed.err, re.M
    )
