"""Putting the parts together for ``mcp-gate run``: audit log, gateway, transport."""

from __future__ import annotations

import logging
import socket
import sys
from functools import partial
from typing import Literal

import anyio
import httpx2

from mcp_gate.approvals.configured import configured_channels
from mcp_gate.audit import AuditLog
from mcp_gate.config import Config
from mcp_gate.gateway import Gateway
from mcp_gate.http import (
    MCP_PATH,
    address_of,
    approvals_app,
    bind,
    build_app,
    serve_asgi,
)
from mcp_gate.stdio import stdio_streams

logger = logging.getLogger("mcp_gate")


def configure_logging(level: str) -> None:
    """Log to stderr only: on stdio, stdout carries the MCP protocol itself."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def open_audit(config: Config) -> AuditLog:
    audit = AuditLog.from_config(config.audit, config.base_dir)
    audit.open()
    return audit


def needs_approval_page(config: Config) -> bool:
    """On stdio, serve the approval page and API when asked to, or when someone could use them."""
    channels = config.approvals.channels
    return "listen" in config.approvals.model_fields_set or bool(config.approvals.tokens) or any(
        getattr(channels, name) is not None for name in ("slack", "teams", "webhook")
    ) or any(rule.elicitation == "url" for rule in config.rules)


async def serve(config: Config, transport: Literal["stdio", "http"], host: str, port: int) -> None:
    """Run the gateway until the client disconnects (stdio) or the process is stopped (http)."""
    if transport == "http":
        sock: socket.socket | None = bind(host, port)
    elif needs_approval_page(config):
        listen_host, _, listen_port = config.approvals.listen.rpartition(":")
        sock = bind(listen_host, int(listen_port))
    else:
        sock = None
    page_url = None
    if sock is not None:
        page_url = config.approvals.url.rstrip("/") if config.approvals.url else address_of(sock)
    audit = open_audit(config)
    try:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0)) as http:
            channels = configured_channels(config.approvals, http, base_url=page_url) if page_url else {}
            gateway = Gateway(config, audit, page_url=page_url, channels=channels)
            await _serve_gateway(gateway, transport, host, sock, page_url)
    finally:
        audit.close()


async def _serve_gateway(
    gateway: Gateway, transport: str, host: str, sock: socket.socket | None, page_url: str | None
) -> None:
    async with gateway.running():
        if transport == "http":
            assert sock is not None and page_url is not None
            logger.info("mcp-gate listening on %s%s (approvals at %s/approvals)", address_of(sock), MCP_PATH, page_url)
            await serve_asgi(build_app(gateway, host=host, base_url=page_url), sock)
            return
        async with anyio.create_task_group() as tg:
            if sock is not None and page_url is not None:
                logger.info("approval page and API at %s/approvals", page_url)
                tg.start_soon(partial(serve_asgi, approvals_app(gateway, page_url), sock, lifespan=False))
            logger.info("mcp-gate serving MCP on stdio (%d upstreams)", len(gateway.upstreams))
            async with stdio_streams() as (read, write):
                await gateway.server.run(read, write, gateway.server.create_initialization_options())
            tg.cancel_scope.cancel()
