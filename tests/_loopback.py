"""An aiohttp.web app of a test's own on a free loopback port (hostile servers, echo servers)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Start ``app`` on 127.0.0.1 and a free port; return its runner (``cleanup()`` stops it) and the
    base URL a client of it uses (``http://127.0.0.1:PORT/public/api``)."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/public/api"
