"""A fake Postmark API on loopback, to measure sending through anymail's real Postmark backend.

What it is
    An HTTP/1.1 server on asyncio streams (standard library only) that answers what
    ``anymail.backends.postmark.EmailBackend`` sends (``POST email``, ``email/batch``,
    ``email/withTemplate/``, ``email/batchWithTemplates``) in Postmark's own format, after a
    latency, with some 500/503 and 429 answers if asked. Requests wait side by side, so
    hundreds of keep-alive connections are served at once on little CPU. It counts what a
    benchmark or a reliability test asks about (``GET /stats``): requests, accepted messages,
    the most requests in flight at once, recipients and ``Message-ID`` headers accepted more
    than once, accepts per second. With ``--events-url`` it posts a Postmark ``Delivery``
    webhook for every recipient it accepts.

    This file is the command and the helper callers use; ``fake_postmark.py`` is the
    behaviour and the counting, ``postmark_api.py`` Postmark's answers, ``http11.py`` HTTP.

How to run (from the repository root)
    .venv/bin/python benchmarks/fake_esp.py --port 0 --latency-ms 100 --jitter-ms 20 \\
        --error-rate 0.01 --rate-429 0.01 --retry-after 1 --port-file var/fake-esp.port
    # then, for the sender:
    EMAIL_BACKEND=anymail.backends.postmark.EmailBackend ANYMAIL_POSTMARK_SERVER_TOKEN=x \\
    ANYMAIL_POSTMARK_API_URL=http://127.0.0.1:PORT/ ...

    From Python, ``start_fake_esp(latency_ms=100)`` runs it in a subprocess (so it never
    competes with the sender for the GIL) and returns a ``FakeEsp`` handle. ``--help`` lists
    the knobs (``fake_postmark.Knobs``).

Control endpoints (not counted in the statistics)
    GET /stats; POST /reset (the counts and the kept messages); GET /messages (the last
    ``--keep-messages`` accepted: recipients, From, Subject, Tag, Metadata, Headers);
    GET /knobs; POST /knobs with a JSON object changes knobs while it runs (start failing...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# Run as a script, this file's folder is on sys.path, not the repository's root.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fake_postmark import FakePostmark, Knobs  # noqa: E402

__all__ = ["FakeEsp", "Knobs", "main", "start_fake_esp"]


def main(argv: list[str] | None = None) -> None:
    """Run the fake Postmark server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="A fake Postmark API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the parent process is gone"
    )
    for knob in dataclasses.fields(Knobs):
        flag = "--" + knob.name.replace("_", "-")
        help = knob.metadata["help"]
        if knob.name == "inactive":
            parser.add_argument(flag, action="append", default=[], help=help)
        elif knob.name == "seed":
            parser.add_argument(flag, type=int, default=None, help=help)
        else:
            default = knob.default
            help = f"{help} (default {default!r})"
            parser.add_argument(flag, type=type(default), default=default, help=help)
    args = parser.parse_args(argv)
    try:
        knobs = Knobs(**{knob.name: getattr(args, knob.name) for knob in dataclasses.fields(Knobs)})
    except ValueError as error:
        parser.error(str(error))

    async def run() -> None:
        await FakePostmark(knobs).serve(
            host=args.host,
            port=args.port,
            port_file=args.port_file,
            parent_pid=os.getppid() if args.exit_with_parent else None,
        )

    asyncio.run(run())


# --- The helper for benchmarks and tests: the server in a subprocess.


class FakeEsp:
    """A running fake Postmark server in its own process, and a client for its control API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, workdir: str):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self._workdir = workdir
        # The control calls never go through a proxy named in the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as refused:
            # A knob the server refused: say which, as Knobs would have in this process.
            detail = refused.read().decode(errors="replace")
            raise ValueError(f"the fake ESP refused {method} /{path}: {detail}") from None

    def stats(self) -> dict[str, Any]:
        """What the server counted since it started or was last reset (see ``Stats``)."""
        return self._call("GET", "stats")

    def reset(self) -> None:
        """Forget the counts and the kept messages (the knobs stay)."""
        self._call("POST", "reset", {})

    def messages(self) -> list[dict[str, Any]]:
        """The last accepted messages: recipients, From, To, Subject, Tag, Metadata, Headers."""
        return self._call("GET", "messages")

    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        """Change how the server behaves from its next request on; returns all its knobs."""
        return self._call("POST", "knobs", knobs)

    def anymail_settings(self, token: str = "fake-esp-token") -> dict[str, str]:
        """The ``ANYMAIL`` entries that point anymail's Postmark backend here."""
        return {"POSTMARK_SERVER_TOKEN": token, "POSTMARK_API_URL": self.url}

    def environ(self, token: str = "fake-esp-token") -> dict[str, str]:
        """The environment variables that point a worker process of the site here."""
        return {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_API_URL": self.url,
            "ANYMAIL_POSTMARK_SERVER_TOKEN": token,
        }

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            for leftover in Path(self._workdir).iterdir():
                leftover.unlink()
            os.rmdir(self._workdir)

    def __enter__(self) -> FakeEsp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_fake_esp(*, startup_timeout: float = 10.0, **knobs: Any) -> FakeEsp:
    """Start a fake Postmark server in a subprocess; return once it is listening.

    ``knobs`` are ``Knobs`` fields (``latency_ms=100, rate_429=0.01, events_url=...``); a bad
    value raises ``ValueError`` here, before any process starts. The server's stdout is
    discarded; its stderr is this process's.
    """
    argv = Knobs(**knobs).to_argv()
    workdir = tempfile.mkdtemp(prefix="fake-esp-")
    port_file = Path(workdir) / "port"
    script = str(Path(__file__).resolve())
    process = subprocess.Popen(
        [sys.executable, script, "--port-file", str(port_file), "--exit-with-parent", *argv],
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + startup_timeout
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            FakeEsp(process, 0, workdir).stop()
            raise RuntimeError(f"the fake ESP did not start (exit status {process.returncode})")
        time.sleep(0.01)
    return FakeEsp(process, int(port_file.read_text()), workdir)


if __name__ == "__main__":
    main()
