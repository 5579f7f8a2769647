"""Spawns a hibiki binary on an OS-chosen port for the Python (websockets) tests."""

import asyncio
import os
import re
import resource
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_ROOT = REPO_ROOT / "web"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
KILL_GRACE = 5.0
LISTENING_RE = re.compile(rb"listening on https?://127\.0\.0\.1:(\d+)")


def hibiki_bin() -> Path:
    return Path(os.environ.get("HIBIKI_BIN") or REPO_ROOT / "build/debug/hibiki")


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int = 0
    stderr: bytearray = field(default_factory=bytearray)
    drain: asyncio.Task | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s; returns the exit status."""
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), KILL_GRACE)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.drain:
            await asyncio.wait_for(self.drain, KILL_GRACE)
        return self.process.returncode


async def start_server(mode: str, max_message: int | None = None, extra_args: list[str] = (),
                       max_open_files: int | None = None) -> Server:
    """Starts hibiki; max_open_files caps RLIMIT_NOFILE (soft and hard) for the server."""
    binary = hibiki_bin()
    if not binary.exists():
        raise FileNotFoundError(f"hibiki binary not found at {binary} (build it or set HIBIKI_BIN)")
    args = [mode, "--host", HOST, "--port", "0"]
    if mode == "chat":
        args += ["--web-root", str(WEB_ROOT)]
        if "--db" not in extra_args:
            args += ["--db", ":memory:"]  # history in memory unless a test passes its own file
    if max_message is not None:
        args += ["--max-message", str(max_message)]
    args += list(extra_args)

    def limit_files() -> None:
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    proc = await asyncio.create_subprocess_exec(
        str(binary), *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_files,
    )
    server = Server(proc)
    port_found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read_stderr() -> None:
        # Keep draining after startup so a chatty server never blocks on a full pipe.
        while chunk := await proc.stderr.read(4096):
            server.stderr += chunk
            match = LISTENING_RE.search(server.stderr)
            if match and not port_found.done():
                port_found.set_result(int(match.group(1)))
        if not port_found.done():
            port_found.set_exception(RuntimeError(
                f"hibiki exited before listening: {server.stderr.decode(errors='replace')}"))

    server.drain = asyncio.create_task(read_stderr())
    try:
        server.port = await asyncio.wait_for(port_found, STARTUP_TIMEOUT)
    except BaseException:
        await server.stop()
        raise
    return server
