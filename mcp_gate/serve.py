"""Putting the parts together for ``mcp-gate run``: audit log, gateway, transport."""

from __future__ import annotations

import logging
import sys
from typing import Literal

from mcp.server.stdio import stdio_server

from mcp_gate.audit import AuditLog
from mcp_gate.config import Config
from mcp_gate.gateway import Gateway
from mcp_gate.http import serve_http

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


async def serve(config: Config, transport: Literal["stdio", "http"], host: str, port: int) -> None:
    """Run the gateway until the client disconnects (stdio) or the process is stopped (http)."""
    audit = open_audit(config)
    try:
        gateway = Gateway(config, audit)
        async with gateway.running():
            if transport == "stdio":
                logger.info("mcp-gate serving MCP on stdio (%d upstreams)", len(gateway.upstreams))
                async with stdio_server() as (read, write):
                    await gateway.server.run(read, write, gateway.server.create_initialization_options())
            else:
                await serve_http(gateway, host, port)
    finally:
        audit.close()
