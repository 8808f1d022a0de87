"""Every Python block of the README runs as written, each in a fresh interpreter: the pytest example in a
child pytest (through the installed plugin), the ones that talk to 3Commas against a fake server of their
own (they read the key and base URL from the environment, as the README says), the rest as they are.
The field map is the one the Structs give, and the README shows the two commands of a fresh machine."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Final

import pytest

from threecommas_async.testing import FakeThreeCommas

from . import fieldmap

pytestmark = pytest.mark.e2e

ROOT: Final = Path(__file__).parent.parent
README: Final = ROOT / "README.md"
TIMEOUT: Final = 90.0
DOGE: Final = {"pair": "USDT_DOGE"}


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def _label(block: str) -> str:
    """The block's first import of ours or its first def, for a readable test id."""
    names = re.findall(r"^(?:async )?def (\w+)", block, re.M)
    return "-".join(n for n in names if n != "main") or f"block{python_blocks().index(block)}"


BLOCKS: Final = python_blocks()


async def _run(*argv: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("THREECOMMAS_", "PYTEST_"))}


def test_the_readme_has_its_examples() -> None:
    assert len(BLOCKS) >= 10
    assert sum("def test_" in b for b in BLOCKS) == 1
    assert sum("THREECOMMAS_API_KEY" in b for b in BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{i}-{_label(b)}" for i, b in enumerate(BLOCKS)])
async def test_every_python_block_runs(block: str, tmp_path: Path) -> None:
    script = tmp_path / ("test_example.py" if "def test_" in block else "example.py")
    script.write_text(block)
    env = _clean_env()
    if "def test_" in block:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
        code, out, err = await _run(*argv, "-p", "no:xdist", script.name, cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert "1 passed" in out
        return
    if "THREECOMMAS_API_KEY" not in block:
        code, out, err = await _run(sys.executable, script.name, cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert out.strip(), "the example prints what it did"
        return
    async with FakeThreeCommas() as server:  # 3Commas' real limits: the examples must keep to them
        ids = server.seed_trades(5, DOGE)
        env |= {
            "THREECOMMAS_API_KEY": server.api_key,
            "THREECOMMAS_API_SECRET": server.api_secret,
            "THREECOMMAS_BASE_URL": server.base_url,
        }
        code, out, err = await _run(sys.executable, script.name, str(ids[0]), cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert server.stats.status_429 == 0 and server.stats.status_418 == 0
        assert server.stats.by_status.get(401, 0) == 0, "every request was signed right"
    assert out.strip(), "the example prints what it did"
    if "sys.argv[1]" in block:  # the quickstart cancels the id it is given
        assert f"{ids[0]} USDT_DOGE cancellation_pending" in out
        assert server.trade_status(ids[0]) in ("cancellation_pending", "cancelled")


def test_the_field_map_is_the_models() -> None:
    assert fieldmap.render() in README.read_text()


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()
