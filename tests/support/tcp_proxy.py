"""A TCP proxy the tests can cut: a network partition between a process and a server.

``cut()`` makes the proxy a black hole, the hard kind of partition: connections stay open on both
sides and nothing passes, in either direction, so neither end learns of it from the network
(no reset, no close); new connections are accepted and go nowhere. ``heal()`` closes everything
that lived through the cut (as a real partition's connections die of their timeouts) and forwards
new connections again. It runs its own event loop in a thread, so a test can use it around
processes of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

__all__ = ["TcpProxy", "tcp_proxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cut_now = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> int:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self.port

    def cut(self) -> None:
        """From now on nothing passes, and nobody is told."""
        self.cut_now = True

    def heal(self) -> None:
        """Drop every connection that lived through the cut; forward new ones again."""
        asyncio.run_coroutine_threadsafe(self._heal(), self._loop).result(10)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- the loop's side ---------------------------------------------------------------------------

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.cut_now:  # a black hole: accepted, never answered
            await self._swallow(reader)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.cut_now:
                    continue  # dropped on the floor
                writer.write(data)
                await writer.drain()
        if self.cut_now:
            return  # a partition carries no close either: the other end learns nothing
        with contextlib.suppress(Exception):
            writer.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while await reader.read(65536):
                pass

    async def _heal(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        self.cut_now = False

    async def _close(self) -> None:
        await self._heal()
        if self._server is not None:
            self._server.close()


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
