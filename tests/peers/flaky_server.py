"""An upstream MCP server that misbehaves on request, for the gateway's failure tests.

Tools: ``echo`` (works), ``slow`` (sleeps; ``was_cancelled`` tells whether a
client cancelled it), ``crash`` (the process dies mid-call),
``grow`` (adds a tool and announces ``tools/list_changed``), ``fail`` (raises, so
the result has ``isError``).  With
``--http`` it serves streamable HTTP on a free port and prints
``listening on PORT`` to stderr once connections to it queue.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("flaky", version="1.0")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


_cancelled = anyio.Event()


@mcp.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Take a while to answer (after a progress note saying it started)."""
    await ctx.report_progress(0, 1, "started")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        _cancelled.set()
        raise
    return f"slept {seconds}"


@mcp.tool()
async def was_cancelled() -> bool:
    """Whether a `slow` call was cancelled by its client (waits up to 10 s for it to happen)."""
    with anyio.move_on_after(10):
        await _cancelled.wait()
    return _cancelled.is_set()


@mcp.tool()
def crash() -> str:
    """Die in the middle of the call, as a broken server would."""
    os._exit(3)


@mcp.tool()
def fail(message: str) -> str:
    """Fail inside the tool (the result carries isError)."""
    raise ToolError(message)


@mcp.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool named `name` and tell clients the tool list changed."""

    def added() -> str:
        return f"I am {name}"

    mcp.add_tool(added, name=name, description="Added at run time.")
    await ctx.notify_tools_changed()  # 2026-07-28 clients listen on subscriptions/listen
    await ctx.session.send_tool_list_changed()  # 2025-11-25 clients hear it on the connection
    return f"added {name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--tool", action="append", default=[], help="also serve an echo tool under this name")
    args = parser.parse_args()
    for name in args.tool:
        mcp.add_tool(echo, name=name, description="Echo under another name.")
    if not args.http:
        mcp.run()
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # from here connections wait in the backlog until the server takes them
    print(f"listening on {sock.getsockname()[1]}", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(mcp.streamable_http_app(), log_config=None, lifespan="on"))
    anyio.run(server.serve, [sock])


if __name__ == "__main__":
    main()
