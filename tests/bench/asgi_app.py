"""The benchmark's small HTTP application on the official Python SDK.

Serves one ASGI app (the same answer as the Rust Router) on a published
http tunnel with the SDK's stream-native ASGI helper, prints
`READY <forwarding address>`, and exits when stdin closes.

Environment: RSTREAM_ENGINE, RSTREAM_AUTHENTICATION_TOKEN, BENCH_CA_FILE,
BENCH_TUNNEL_NAME, BENCH_BODY, and RSTREAM_BENCH_CPUS (the cores to pin to,
comma-separated, when the bench pins).
"""

import asyncio
import os
import sys
import threading

from rstream import Client, TLSOptions
from rstream.asgi import serve

BODY = os.environ.get("BENCH_BODY", "hello\n").encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(64):
        pass
    os._exit(0)


async def main():
    client = Client(
        engine=os.environ["RSTREAM_ENGINE"],
        token=os.environ["RSTREAM_AUTHENTICATION_TOKEN"],
        tls=TLSOptions(ca_file=os.environ["BENCH_CA_FILE"]),
        read_config_file=False,
    )
    control = await client.connect()
    tunnel = await control.create_tunnel(
        name=os.environ.get("BENCH_TUNNEL_NAME", "bench-python"),
        publish=True,
        protocol="http",
    )
    print("READY " + tunnel.forwarding_address, flush=True)
    await serve(app, tunnel)


if __name__ == "__main__":
    cpus = os.environ.get("RSTREAM_BENCH_CPUS")
    if cpus:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(main())
