"""The operator command line, in-process: ``cli.main(argv, console=...)`` against a FakeThreeCommas served
by the test's own event loop (see ``cli_support``). Credentials go through the console's environment, the
base URL through ``--base-url``. Every run is checked for leaks: neither the secret nor any ``Signature``
the command sent may appear in its output. What only a real process shows (the installed entry point,
signals, a closed stdout) is in ``test_cli_process.py``.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs

import aiohttp
import pytest

from threecommas_async._status import CANCELLING
from threecommas_async.testing import FakeThreeCommas, RateLimitRule, RateLimits

from .cli_support import Run, cli, deletes, until
from .conftest import public_pem

pytestmark = pytest.mark.integration

FIXTURES: Final = Path(__file__).parent / "fixtures"
README: Final = Path(__file__).parent.parent / "README.md"


@pytest.fixture
async def server() -> AsyncIterator[FakeThreeCommas]:
    async with FakeThreeCommas() as fake:
        yield fake


# -- list -----------------------------------------------------------------------------------------------
async def test_list_prints_one_page_as_an_aligned_table(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(12)
    run = await cli(server, "smart-trades", "list")
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    assert " ".join(header.split()) == "ID PAIR STATUS ACCOUNT TYPE CREATED (UTC) PROFIT USD PROFIT %"
    assert len(rows) == 10  # the API's default page
    assert {int(r.split()[0]) for r in rows} <= set(ids)
    pair_at, status_at = header.index("PAIR"), header.index("STATUS")
    for row in rows:
        assert row[pair_at:].startswith("USDT_BTC ")
        assert row[status_at:].startswith("waiting_targets ")
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)
    assert "--page 2" in run.err  # a full page: say how to get more
    assert [r.route for r in server.requests] == ["list"]


async def test_list_all_pages_as_json_lines_parse_back(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(25)
    # global options after the action are accepted too
    run = await cli(server, "smart-trades", "list", "--all-pages", "--per-page", "10", "--json")
    assert run.code == 0, run.err
    trades = run.json_lines()
    assert sorted(t["id"] for t in trades) == ids
    assert {t["kind"] for t in trades} == {"smart_trade"}  # scripts tell lines apart by "kind"
    first = trades[0]
    assert first["pair"] == "USDT_BTC"
    assert first["status"]["type"] == "waiting_targets"
    assert first["account"]["id"] == 1
    assert first["position"]["units"]["value"] == "0.01"  # Decimals travel as strings
    queries = [parse_qs(r.query) for r in server.requests if r.route == "list"]
    assert [(q["page"], q["per_page"]) for q in queries] == [
        (["1"], ["10"]),
        (["2"], ["10"]),
        (["3"], ["10"]),
    ]


async def test_list_filters_reach_the_api(server: FakeThreeCommas) -> None:
    server.seed_trades(3)
    wanted = server.seed_trades(2, {"account_id": 7, "pair": "USDT_ETH"})
    run = await cli(server, "--json", "smart-trades", "list", "--account", "7", "--pair", "usdt_eth")
    assert run.code == 0, run.err
    assert sorted(t["id"] for t in run.json_lines()) == wanted
    query = server.requests[-1].query
    assert "account_id=7" in query and "pair=USDT_ETH" in query


# -- get / close-by-market ------------------------------------------------------------------------------
async def test_get_shows_one_trade_and_not_found_is_one_line(server: FakeThreeCommas) -> None:
    (trade_id,) = server.seed_trades(1)
    table, as_json, missing = await asyncio.gather(
        cli(server, "smart-trades", "get", str(trade_id)),
        cli(server, "smart-trades", "get", str(trade_id), "--json"),
        cli(server, "smart-trades", "get", "999999"),
    )
    assert table.code == 0, table.err
    assert re.search(rf"^id\s+{trade_id}$", table.out, re.M)
    assert re.search(r"^status\s+waiting_targets", table.out, re.M)
    assert as_json.code == 0
    (obj,) = as_json.json_lines()
    assert obj["id"] == trade_id and obj["pair"] == "USDT_BTC"
    assert missing.code == 1
    assert missing.out == ""
    assert missing.err.startswith("threecommas-async: not found:")
    assert len(missing.err.strip().splitlines()) == 1


async def test_close_by_market(server: FakeThreeCommas) -> None:
    (trade_id,) = server.seed_trades(1)
    run = await cli(server, "smart-trades", "close-by-market", str(trade_id))
    assert run.code == 0, run.err
    assert run.rows()[0].split()[0] == str(trade_id)
    assert server.trade_status(trade_id) in {"panic_sell_pending", "finished"}
    assert [r.route for r in server.requests] == ["close_by_market"]


@pytest.mark.parametrize("answer", ["empty", "another trade", "unchanged"])
async def test_close_by_market_trusts_no_2xx_that_does_not_show_the_close(
    server: FakeThreeCommas, answer: str
) -> None:
    trade_id, other = server.seed_trades(2)
    body = {"empty": {}, "another trade": server.get_trade(other), "unchanged": server.get_trade(trade_id)}
    server.faults.add("respond", route="close_by_market", body=body[answer], times=None)
    run = await cli(server, "smart-trades", "close-by-market", str(trade_id))
    assert run.code != 0
    assert f"a GET shows SmartTrade {trade_id} with status waiting_targets: it was not closed" in run.err
    assert server.trade_status(trade_id) == "waiting_targets"


# -- cancel ---------------------------------------------------------------------------------------------
async def test_cancel_changes_the_server_state(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(3)
    run = await cli(server, "smart-trades", "cancel", str(ids[0]), str(ids[1]))
    assert run.code == 0, run.err
    assert server.trade_status(ids[0]) in CANCELLING
    assert server.trade_status(ids[1]) in CANCELLING
    assert server.trade_status(ids[2]) == "waiting_targets"
    # one row per id as it settles (completion order), then the summary
    assert sorted(row.split()[:3] for row in run.rows()[:2]) == sorted(
        [[str(ids[0]), "USDT_BTC", "cancelled"], [str(ids[1]), "USDT_BTC", "cancelled"]]
    )
    assert "2 SmartTrades: 2 cancelled, 0 already final, 0 failed" in run.out


async def test_wait_final_never_takes_the_next_id_for_its_seconds(server: FakeThreeCommas) -> None:
    """``cancel --wait-final 30000170 30000171``: both ids are cancelled (an optional value once took the
    first as a wait of 347 days); --final-timeout bounds the wait for the final states."""
    first, second = server.seed_trades(2)
    run = await cli(
        server,
        "--json",
        "smart-trades",
        "cancel",
        "--wait-final",
        str(first),
        str(second),
        "--final-timeout",
        "5",
    )
    assert run.code == 0, run.err
    assert {r["id"]: r["result"] for r in run.json_lines()} == {first: "cancelled", second: "cancelled"}
    assert server.trade_status(first) in CANCELLING and server.trade_status(second) in CANCELLING
    bad = await cli(server, "smart-trades", "cancel", str(first), "--final-timeout", "0")
    assert bad.code == 2 and "--final-timeout" in bad.err


async def test_wait_final_exits_1_naming_the_trades_not_final_within_the_wait() -> None:
    """``cancel --wait-final && place orders``: a trade still cancelling when the wait ends stops the &&."""
    async with FakeThreeCommas(cancel_delay=None) as never_final:
        (trade_id,) = never_final.seed_trades(1)
        run = await cli(
            never_final, "smart-trades", "cancel", str(trade_id), "--wait-final", "--final-timeout", "0.3"
        )
    assert run.code == 1
    assert f"1 SmartTrade cancelled but not final within --final-timeout: {trade_id}" in run.err


async def test_cancel_json_reports_already_final_and_failures(server: FakeThreeCommas) -> None:
    live, done = server.seed_trades(2)
    server.set_trade_status(done, "finished")
    run = await cli(server, "--json", "smart-trades", "cancel", str(live), str(done), "999999")
    assert run.code == 1  # one id was not cancelled
    results = {r["id"]: r for r in run.json_lines()}
    assert set(results) == {live, done, 999999}
    assert results[live] | {"elapsed": 0} == {
        "kind": "cancel_result",
        "id": live,
        "ok": True,
        "already_final": False,
        "result": "cancelled",
        "final": None,  # only --wait-final waits for the final state
        "status": "cancellation_pending",
        "pair": "USDT_BTC",
        "error": None,
        "elapsed": 0,
    }
    assert results[done]["ok"] and results[done]["already_final"] and results[done]["status"] == "finished"
    failed = results[999999]
    assert failed["ok"] is False and failed["result"] == "failed"
    assert failed["error"]["type"] == "NotFoundError"
    assert failed["error"]["http_status"] == 404
    assert "404" in failed["error"]["message"]
    assert "3 SmartTrades: 1 cancelled, 1 already final, 1 failed" in run.err  # stdout stays pure JSON


# -- cancel-all -----------------------------------------------------------------------------------------
async def test_cancel_all_yes_cancels_exactly_the_matching_active_ones(server: FakeThreeCommas) -> None:
    others = server.seed_trades(3)
    mine = server.seed_trades(2, {"account_id": 7})
    finished = server.add_trade({"account_id": 7}, status="finished")
    run = await cli(server, "smart-trades", "cancel-all", "--account", "7", "--yes")
    assert run.code == 0, run.err
    assert sorted(i for i in deletes(server) if i is not None) == mine
    assert all(server.trade_status(i) in CANCELLING for i in mine)
    assert all(server.trade_status(i) == "waiting_targets" for i in others)
    assert server.trade_status(finished) == "finished"
    listing = server.requests[0]
    assert listing.route == "list" and "status=active" in listing.query and "account_id=7" in listing.query
    assert "2 SmartTrades: 2 cancelled, 0 already final, 0 failed" in run.out
    assert "Cancel" not in run.err  # --yes: no question asked


async def test_cancel_all_asks_on_a_terminal_and_y_cancels(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(3)
    run = await cli(server, "smart-trades", "cancel-all", stdin="y\n", terminal=True)
    assert run.code == 0, run.err
    assert "Cancel 3 SmartTrades? [y/N]" in run.err
    lines = run.out.splitlines()
    assert sorted(int(row.split()[0]) for row in lines[1:4]) == ids  # what it will cancel, shown first
    assert lines[4] == ""
    assert lines[5].split()[:3] == ["ID", "PAIR", "RESULT"]  # then what happened
    assert sorted(i for i in deletes(server) if i is not None) == ids
    assert all(server.trade_status(i) in CANCELLING for i in ids)


async def test_cancel_all_answered_n_cancels_nothing(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(3)
    run = await cli(server, "smart-trades", "cancel-all", stdin="n\n", terminal=True)
    assert run.code == 1
    assert "Cancel 3 SmartTrades? [y/N]" in run.err
    assert "nothing was cancelled" in run.err
    assert deletes(server) == []
    assert all(server.trade_status(i) == "waiting_targets" for i in ids)


async def test_cancel_all_refuses_without_a_terminal_or_yes(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(2)
    # "y" on a pipe is not a confirmation: only a person at a terminal (or --yes) can give one
    piped, nothing = await asyncio.gather(
        cli(server, "smart-trades", "cancel-all", stdin="y\n"),
        cli(server, "smart-trades", "cancel-all"),
    )
    for run in (piped, nothing):
        assert run.code == 2
        assert "stdin is not a terminal" in run.err and "--yes" in run.err
    assert deletes(server) == []
    assert all(server.trade_status(i) == "waiting_targets" for i in ids)


async def test_cancel_all_dry_run_sends_no_delete(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(4)
    run = await cli(server, "--json", "smart-trades", "cancel-all", "--dry-run")
    assert run.code == 0, run.err
    assert sorted(t["id"] for t in run.json_lines()) == ids
    assert "dry run" in run.err
    assert {r.method for r in server.requests} == {"GET"}
    assert deletes(server) == []
    assert all(server.trade_status(i) == "waiting_targets" for i in ids)


async def test_cancel_all_json_lists_then_reports_each_result(server: FakeThreeCommas) -> None:
    ids = server.seed_trades(3)
    closing = server.add_trade(status="cancellation_pending")
    run = await cli(server, "smart-trades", "cancel-all", "--yes", "--json")
    assert run.code == 0, run.err
    lines = run.json_lines()
    listing = [o for o in lines if o["kind"] == "smart_trade"]
    results = [o for o in lines if o["kind"] == "cancel_result"]
    assert lines == listing + results  # the listing comes first
    assert [o for o in lines if o.get("ok") is False] == []  # jq 'select(.ok == false)': failed results only
    assert sorted(t["id"] for t in listing) == ids
    assert sorted(r["id"] for r in results) == ids
    assert all(r["ok"] and r["result"] == "cancelled" and r["error"] is None for r in results)
    assert closing not in deletes(server)  # already on its way out: left alone, and said so
    assert f"skipping 1 SmartTrade already being cancelled or closed ({closing})" in run.err
    assert "3 SmartTrades: 3 cancelled, 0 already final, 0 failed" in run.err


# -- failures -------------------------------------------------------------------------------------------
async def test_missing_credentials_exit_2_before_any_request(server: FakeThreeCommas) -> None:
    no_secret, nothing = await asyncio.gather(
        cli(server, "smart-trades", "list", no_credentials=True, env={"THREECOMMAS_API_KEY": "k"}),
        cli(server, "smart-trades", "cancel-all", "--yes", no_credentials=True),
    )
    for run in (no_secret, nothing):
        assert run.code == 2
        assert run.err.startswith("threecommas-async: missing credentials:")
        assert "THREECOMMAS_API_SECRET" in run.err
        assert run.out == ""
    assert "THREECOMMAS_API_KEY or --api-key" in nothing.err
    assert "THREECOMMAS_API_KEY or --api-key" not in no_secret.err
    assert server.stats.requests == 0


async def test_a_bad_secret_is_an_authentication_failure(server: FakeThreeCommas) -> None:
    (trade_id,) = server.seed_trades(1)
    bad = "not-the-secret-5f0c2a9e1b7d"
    listing, cancelling = await asyncio.gather(
        cli(server, "smart-trades", "list", api_secret=bad),
        cli(server, "--json", "smart-trades", "cancel", str(trade_id), api_secret=bad),
    )
    assert listing.code == 3
    assert listing.err.startswith("threecommas-async: authentication failed:")
    assert "401" in listing.err
    assert len(listing.err.strip().splitlines()) == 1
    assert cancelling.code == 3  # a bulk cancel says it once and exits like any other 401
    assert "authentication failed" in cancelling.err
    assert cancelling.json_lines()[0]["error"]["type"] == "AuthenticationError"
    assert server.trade_status(trade_id) == "waiting_targets"
    assert server.stats.status_401 >= 2


async def test_an_rsa_key_file_flag_wins_over_the_environment(server: FakeThreeCommas) -> None:
    pem = FIXTURES / "rsa_test_private_key.pem"
    server.add_key("rsa-operator", public_key=public_pem(pem.read_text()))
    server.seed_trades(1)
    run = await cli(
        server,
        "smart-trades",
        "list",
        "--api-key",
        "rsa-operator",
        "--private-key-file",
        str(pem),
        api_secret="a-wrong-secret-in-the-environment",
    )
    assert run.code == 0, run.err
    assert {r.api_key for r in server.requests} == {"rsa-operator"}
    assert server.stats.status_401 == 0


async def test_an_ip_ban_exits_4_and_sends_nothing_more() -> None:
    limits = RateLimits(global_rule=RateLimitRule(1, 60.0, 60.0), list_rule=None, ban=300.0, ban_grace=0.0)
    async with FakeThreeCommas(rate_limit=limits) as server:
        (trade_id,) = server.seed_trades(1)
        url = f"{server.base_url}/v2/smart_trades/{trade_id}"
        statuses = []
        async with aiohttp.ClientSession(headers={"Apikey": server.api_key}) as session:
            for _ in range(3):  # admitted (unsigned: 401), 429, then 418: the key is banned
                async with session.get(url) as resp:
                    statuses.append(resp.status)
        assert statuses == [401, 429, 418]
        before = server.stats.requests
        run = await cli(server, "smart-trades", "get", str(trade_id))
        assert run.code == 4
        announced, reason = run.err.splitlines()
        assert re.match(
            r"threecommas-async: IP banned by 3Commas \(418 on GET .*\): sending nothing for", announced
        )
        assert re.match(r"threecommas-async: IP banned by 3Commas for (29\d|300) s", reason)
        assert server.stats.requests == before + 1  # a 418 is never retried


async def test_a_rate_limit_exits_5_without_provoking_a_ban() -> None:
    # 3Commas' global rule (block 300 s); another user of the key has just used up the window
    limits = RateLimits(global_rule=RateLimitRule(1, 60.0, 300.0), list_rule=None)
    async with FakeThreeCommas(rate_limit=limits) as server:
        (trade_id,) = server.seed_trades(1)
        async with (
            aiohttp.ClientSession(headers={"Apikey": server.api_key}) as session,
            session.get(f"{server.base_url}/v2/smart_trades/{trade_id}") as resp,
        ):
            assert resp.status == 401  # uses up the one request of the window
        run = await cli(server, "smart-trades", "get", str(trade_id))
        assert run.code == 5
        *waits, last = run.err.splitlines()  # what it waited for (one line each), then why it gave up
        assert waits == [  # one line for the cool-down, true to what happens: the client will not wait
            f"threecommas-async: rate limited by 3Commas (429 on GET /v2/smart_trades/{trade_id}): its "
            "cool-down of 300 s is longer than the client waits (60 s), so the requests not sent yet fail now"
        ]
        assert last.startswith("threecommas-async: rate limited by 3Commas")
        assert server.stats.status_429 == 1
        assert server.stats.status_418 == 0


async def test_an_unreachable_server_exits_6() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the command runs: nothing listens there
    run = await cli(
        None,
        "--base-url",
        f"http://127.0.0.1:{port}/public/api",
        "smart-trades",
        "get",
        "1",
        api_key="k",
        api_secret="some-secret-value",
    )
    assert run.code == 6
    *retries, last = run.err.splitlines()
    assert last.startswith("threecommas-async: connection failed:")
    assert all(line.startswith("threecommas-async: retrying GET /v2/smart_trades/1 in ") for line in retries)
    assert "some-secret-value" not in run.err


async def test_bad_arguments_exit_2_with_usage(server: FakeThreeCommas) -> None:
    runs = await asyncio.gather(
        cli(server, "smart-trades", "get", "abc"),
        cli(server, "smart-trades", "list", "--page", "2", "--all-pages"),
        cli(server, "smart-trades", "list", "--per-page", "500"),
        cli(server, "smart-trades", "cancel"),
        cli(server, "--paper", "--real", "smart-trades", "list"),
    )
    for run in runs:
        assert run.code == 2
        assert "usage:" in run.err and "error:" in run.err
    assert server.stats.requests == 0


async def test_help_documents_the_command_tree_and_keeps_demo_and_fake_server() -> None:
    top, cancel_all, fake = await asyncio.gather(
        cli(None, "--help"),
        cli(None, "smart-trades", "cancel-all", "--help"),
        cli(None, "fake-server", "--help"),
    )
    assert top.code == 0
    for word in ("smart-trades", "demo", "fake-server", "THREECOMMAS_API_KEY", "exit status"):
        assert word in top.out
    assert "global options" in top.out and "before the command group or after the action" in top.out
    assert cancel_all.code == 0
    for option in ("--yes", "--dry-run", "--account", "--pair", "--json"):
        assert option in cancel_all.out
    assert fake.code == 0 and "--seed-trades" in fake.out  # the fake's own options pass through
    # `.ok | not` also selects the SmartTrade lines (no "ok" key); `.ok == false` only failed results
    readme = README.read_text()
    section = readme[readme.index("## Command line") :]
    section = section[: section.index("\n## ")]
    for text in (top.out, section):
        assert "select(.ok == false)" in text
        assert not [
            line for line in text.splitlines() if ".ok | not" in line and "jq" in line and "$" in line
        ]
    for option in ("--quiet", "--max-rate", "--force", "--timeout", "default 8"):
        assert option in top.out + cancel_all.out
    # the panic commands document how long they wait for a cool-down, and nothing else offers it
    waiting = await asyncio.gather(
        *(cli(None, "smart-trades", action, "--help") for action in ("cancel", "close-by-market", "get"))
    )
    for run in (cancel_all, *waiting[:2]):
        assert "--wait" in run.out and "--max-wait SECONDS" in run.out and "(default 60)" in run.out
    assert "--wait" not in waiting[2].out
    assert "waiting 58 s for 3Commas' limit" in cancel_all.out  # what the progress line says


# -- what the reviewer found ----------------------------------------------------------------------------
async def test_cancel_all_lists_each_id_once_and_names_what_is_still_active() -> None:
    async with FakeThreeCommas(rate_limit=None) as server:
        ids = server.seed_trades(101)  # two pages of 100
        stuck = ids[50]  # shown, but its cancel keeps failing
        server.faults.add("http_503", method="DELETE", path=f"/v2/smart_trades/{stuck}", times=None)
        server.faults.add("latency", route="list", delay=0.3, times=2)
        task = asyncio.create_task(
            cli(server, "--json", "--max-rate", "6000", "--force", "smart-trades", "cancel-all", "--yes")
        )
        # Page 2 is asked for while page 1 is shown: a trade created now shifts the pages, so the last
        # one of page 1 comes again on page 2, and the new one is on neither.
        await until(lambda: server.stats.by_route.get("list", 0) >= 2, task)
        created = server.add_trade()
        run = await task
    assert run.code == 1
    lines = run.json_lines()
    listing = [o["id"] for o in lines if o["kind"] == "smart_trade"]
    assert sorted(listing) == ids  # each once, the duplicate dropped
    assert sorted(r["id"] for r in lines if r["kind"] == "cancel_result") == ids
    assert [r["id"] for r in lines if r.get("ok") is False] == [stuck]  # jq 'select(.ok == false)'
    assert "101 SmartTrades: 100 cancelled, 0 already final, 1 failed" in run.err
    assert f"still active after the cancels: 1 SmartTrade of those shown ({stuck})" in run.err
    assert re.search(rf"1 more active SmartTrade .* not cancelled: {created}; run cancel-all again", run.err)
    assert created not in deletes(server)  # never shown, so never cancelled
    assert server.trade_status(created) == "waiting_targets"
    assert server.trade_status(stuck) == "waiting_targets"
    routes = [r.route for r in server.requests]
    assert routes[-1] == "list" and routes.count("list") >= 3  # the listing, then the check after the cancels


async def test_cancel_all_fails_when_an_unlisted_trade_stays_active() -> None:
    async with FakeThreeCommas(rate_limit=None) as server:
        ids = server.seed_trades(101)
        server.faults.add("latency", route="list", delay=0.3, times=2)
        task = asyncio.create_task(
            cli(server, "--max-rate", "6000", "--force", "smart-trades", "cancel-all", "--yes")
        )
        await until(lambda: server.stats.by_route.get("list", 0) >= 2, task)
        created = server.add_trade()  # appears while cancel-all runs: it was never shown
        run = await task
    assert all(server.trade_status(i) in CANCELLING for i in ids)
    assert server.trade_status(created) == "waiting_targets"
    assert run.code == 1  # every shown one was cancelled, yet something matching is still active
    assert str(created) in run.err


async def test_credential_values_are_never_echoed(server: FakeThreeCommas) -> None:
    pem = (FIXTURES / "rsa_test_private_key.pem").read_text()
    runs = await asyncio.gather(
        # the PEM text itself in the variable meant for its path
        cli(server, "smart-trades", "list", env={"THREECOMMAS_PRIVATE_KEY_FILE": pem}, api_secret=""),
        cli(server, "smart-trades", "list", "--private-key-file", "/nonexistent/hunter2/key.pem"),
        # misspelt flags: argparse would print "unrecognized arguments: --api_secret TOPSECRET-1"
        cli(server, "smart-trades", "list", "--api_secret", "TOPSECRET-1", "--pair=USDT_ETH", "extra"),
        cli(server, "--api_secret", "TOPSECRET-2", "smart-trades", "list"),
        cli(server, "smart-trades", "list", "--api=TOPSECRET-3"),
    )
    in_env, no_file, after, before, ambiguous = runs
    for run in runs:
        assert run.code == 2
        assert run.out == ""
        assert "TOPSECRET" not in run.err and "hunter2" not in run.err
        assert not any(line in run.err for line in pem.splitlines()[1:-1])
    assert in_env.err == (
        "threecommas-async: THREECOMMAS_PRIVATE_KEY_FILE looks like key contents, not a path: "
        "save the PEM key in a file (readable only by you) and give its path\n"
    )
    assert "BEGIN" not in in_env.err
    assert no_file.err.startswith(
        "threecommas-async: cannot read the private key file named by --private-key-file: "
        "No such file or directory"
    )
    assert after.err.rstrip().endswith(
        "error: unrecognized arguments: --api_secret and 2 more words (not shown)"
    )
    assert "usage:" in before.err and "invalid choice" in before.err
    assert "ambiguous option" in ambiguous.err
    assert server.stats.requests == 0


async def test_keys_and_secrets_lose_surrounding_whitespace(server: FakeThreeCommas) -> None:
    server.seed_trades(1)
    from_env, from_flags = await asyncio.gather(
        cli(
            server,
            "smart-trades",
            "list",
            api_key=f" {server.api_key}\n",
            api_secret=f"{server.api_secret}\n",
        ),
        cli(
            server,
            "smart-trades",
            "list",
            "--api-key",
            f"{server.api_key} ",
            "--api-secret",
            f"\t{server.api_secret}\r\n",
        ),
    )
    assert from_env.code == 0, from_env.err
    assert from_flags.code == 0, from_flags.err
    assert server.stats.status_401 == 0


async def test_bulk_cancel_failures_map_to_the_exit_status_of_their_cause() -> None:
    async with FakeThreeCommas(rate_limit=None) as limited, FakeThreeCommas(rate_limit=None) as broken:
        limited_ids = [str(i) for i in limited.seed_trades(3)]
        limited.faults.add("rate_limit", route="cancel", times=None)  # 429 without Retry-After: 300 s
        unreachable, mixed = broken.seed_trades(2)
        for trade_id in (unreachable, mixed):
            broken.faults.add(
                "reset_before", method="DELETE", path=f"/v2/smart_trades/{trade_id}", times=None
            )
        rate_limited, disconnected, both = await asyncio.gather(
            cli(limited, "smart-trades", "cancel", *limited_ids),
            cli(broken, "--json", "smart-trades", "cancel", str(unreachable)),
            cli(broken, "--json", "smart-trades", "cancel", str(mixed), "999999"),
        )
    assert rate_limited.code == 5
    assert re.search(
        r"^threecommas-async: 3 SmartTrades failed: rate limited by 3Commas", rate_limited.err, re.M
    )
    # the cool-down announced once, whatever the number of cancels it stopped, and no retry line
    assert (
        len(re.findall(r"rate limited by 3Commas \(429 on DELETE /v2/smart_trades/\d+\)", rate_limited.err))
        == 1
    )
    assert "its cool-down of 300 s is longer than the client waits (60 s)" in rate_limited.err
    assert "--wait waits it out" in rate_limited.err and "rerun with --wait" in rate_limited.err
    assert "retrying" not in rate_limited.err
    assert disconnected.code == 6
    assert re.search(r"^threecommas-async: 1 SmartTrade failed: connection failed: ", disconnected.err, re.M)
    assert both.code == 1  # two causes: neither status fits
    assert re.search(r"^threecommas-async: 1 SmartTrade failed: connection failed: ", both.err, re.M)
    assert re.search(r"^threecommas-async: 1 SmartTrade failed: not found: ", both.err, re.M)


async def test_fewer_cancels_in_flight_and_rate_and_timeout_options() -> None:
    async def max_rate() -> tuple[Run, list[float]]:
        # --max-rate 3: three requests a minute (here a minute lasts 1/60 of one), so the fourth waits
        async with FakeThreeCommas(rate_limit=None) as server:
            ids = server.seed_trades(4)
            run = await cli(
                server, "smart-trades", "cancel", *map(str, ids), "--max-rate", "3", time_scale=60
            )
            return run, sorted(r.time for r in server.requests if r.method == "DELETE")

    async with FakeThreeCommas(rate_limit=None) as server:
        ids = server.seed_trades(12)
        server.faults.add("latency", route="cancel", delay=0.4, times=None)
        (slow,) = server.seed_trades(1)
        server.faults.add("latency", route="get", delay=3.0, times=None)
        default, timed_out, (limited, sent) = await asyncio.gather(
            cli(server, "smart-trades", "cancel", *map(str, ids)),
            cli(server, "smart-trades", "get", str(slow), "--timeout", "0.1"),
            max_rate(),
        )
        arrivals = sorted(r.time for r in server.requests if r.method == "DELETE")
    assert default.code == 0, default.err
    # Sent before the first answer could come back (each takes 0.4 s): the first wave, 8 in flight
    assert len([t for t in arrivals if t < arrivals[0] + 0.4]) == 8
    assert timed_out.code == 6
    assert timed_out.err.splitlines()[-1].startswith("threecommas-async: timed out:")
    assert limited.code == 0, limited.err
    assert len(sent) == 4
    assert sent[2] - sent[0] < 0.5 <= 0.95 <= sent[3] - sent[0]  # three at once, the fourth a "minute" later
    assert re.search(
        r"^cancelling: 3/4 settled, waiting \d+\.\d s for the limit of --max-rate: 3 requests/min$",
        limited.err,
        re.M,
    )


async def test_close_by_market_whose_answer_was_lost_asks_the_trade(server: FakeThreeCommas) -> None:
    closed, not_closed = server.seed_trades(2)
    # processed, then the connection drops unanswered / refused by a 503 before anything was done
    server.faults.add("reset_after", path=f"/v2/smart_trades/{closed}/close_by_market")
    server.faults.add("http_503", path=f"/v2/smart_trades/{not_closed}/close_by_market")
    lost, failed = await asyncio.gather(
        cli(server, "--json", "smart-trades", "close-by-market", str(closed)),
        cli(server, "smart-trades", "close-by-market", str(not_closed)),
    )
    assert lost.code == 0, lost.err
    assert server.trade_status(closed) in {"panic_sell_pending", "finished"}
    (trade,) = lost.json_lines()
    assert trade["kind"] == "smart_trade" and trade["id"] == closed
    assert re.search(r"the answer was lost \(connection failed: .*\), but a GET confirmed it", lost.err)
    assert failed.code == 1
    assert "3Commas server error" in failed.err
    assert f"a GET shows SmartTrade {not_closed} with status waiting_targets: it was not closed" in failed.err
    assert server.trade_status(not_closed) == "waiting_targets"


async def test_retries_are_one_stderr_line_each_unless_quiet(server: FakeThreeCommas) -> None:
    loud_id, quiet_id = server.seed_trades(2)
    for trade_id in (loud_id, quiet_id):
        server.faults.add("http_503", method="DELETE", path=f"/v2/smart_trades/{trade_id}")
    loud, quiet = await asyncio.gather(
        cli(server, "--json", "smart-trades", "cancel", str(loud_id)),
        cli(server, "--json", "smart-trades", "cancel", str(quiet_id), "--quiet"),
    )
    assert loud.code == 0 and quiet.code == 0
    assert re.search(
        rf"^threecommas-async: retrying DELETE /v2/smart_trades/{loud_id} in \d+\.\d s "
        r"after ServerError 503$",
        loud.err,
        re.M,
    )
    assert "retrying" not in loud.out and "retrying" not in quiet.err
    assert [r["ok"] for r in loud.json_lines() + quiet.json_lines()] == [True, True]
