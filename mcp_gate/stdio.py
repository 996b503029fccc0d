"""The gateway's stdio transport: the SDK's message streams over stdin/stdout, without threads.

The SDK's ``stdio_server`` reads and writes through worker threads, which costs a
thread hand-off (about 0.2 ms here) for every line read, written and flushed —
several per tool call.  This transport waits on the file descriptors in the event
loop instead.  Like the SDK's, it first moves the real stdin/stdout to private
descriptors and points fd 0 at /dev/null and fd 1 at stderr, so nothing else in
the process (a library's stray ``print``, a child process) can write into the
protocol stream.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 16


class _Claimed:
    """A standard descriptor moved aside: the wire on a private fd, the standard fd diverted."""

    def __init__(self, fd: int, diversion: int) -> None:
        self.fd = fd
        self.private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        self._flags = fcntl.fcntl(self.private, fcntl.F_GETFL)
        fcntl.fcntl(self.private, fcntl.F_SETFL, self._flags | os.O_NONBLOCK)
        os.dup2(diversion, fd)
        os.close(diversion)

    def restore(self) -> None:
        # The flags belong to the shared file description (a terminal, say): put them back.
        fcntl.fcntl(self.private, fcntl.F_SETFL, self._flags)
        os.dup2(self.private, self.fd)
        os.close(self.private)


async def _read_lines(fd: int, sink: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
    """Parse one JSON-RPC message per line until EOF; a bad line becomes an exception item."""
    buffer = b""
    async with sink:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except ValueError as exc:
                    await sink.send(exc)
                    continue
                await sink.send(SessionMessage(message))


async def _write_lines(fd: int, source: MemoryObjectReceiveStream[SessionMessage], done: anyio.Event) -> None:
    try:
        await _write_all(fd, source)
    finally:
        done.set()


async def _write_all(fd: int, source: MemoryObjectReceiveStream[SessionMessage]) -> None:
    async with source:
        async for item in source:
            data = memoryview((item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode())
            while data:
                try:
                    written = os.write(fd, data)
                except BlockingIOError:
                    await anyio.wait_writable(fd)
                    continue
                except BrokenPipeError:
                    logger.info("the client closed stdout; stopping")
                    return
                data = data[written:]


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """The read and write streams ``Server.run`` takes, over this process's stdin and stdout."""
    stdin = _Claimed(0, os.open(os.devnull, os.O_RDONLY))
    stdout = _Claimed(1, os.dup(2))
    incoming_send, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outgoing, outgoing_receive = anyio.create_memory_object_stream[SessionMessage](0)
    written = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_read_lines, stdin.private, incoming_send)
            tg.start_soon(_write_lines, stdout.private, outgoing_receive, written)
            try:
                yield incoming, outgoing
            finally:
                outgoing.close()
                with anyio.move_on_after(5, shield=True):
                    await written.wait()  # the last answers reach the client before we go
                tg.cancel_scope.cancel()
    finally:
        stdin.restore()
        stdout.restore()
