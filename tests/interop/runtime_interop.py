#!/usr/bin/env python3
"""Runtime interop: the official Python SDK against this project's runtime,
both through the local engine.

- the Python SDK dials a private tunnel owned by our Rust runtime, by name and
  by id, with zero-RTT on and off;
- our Rust runtime dials a private tunnel owned by the Python SDK, the same
  four ways.

The Rust side is the `rstream-interop-peer` binary (package rstream-interop-peer, tests/interop). The
engine's CA must be trusted through SSL_CERT_FILE (both sides honour it).

    python tests/interop/runtime_interop.py --engine HOST:PORT --token TOKEN --peer PATH

Prints one line per check and ends with `N passed, N failed`; exits non-zero
when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import rstream

results: list[tuple[str, bool, str]] = []


def record(name: str, ok: bool, detail: str = "") -> None:
    results.append((name, ok, detail))
    if ok:
        print(f"ok   {name}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        print(f"FAIL {name}: {detail}", flush=True)


async def check(name: str, coro) -> None:
    try:
        await asyncio.wait_for(coro, 30)
        record(name, True)
    except Exception as e:  # noqa: BLE001 - every failure is a failed check
        record(name, False, f"{type(e).__name__}: {e}")


def python_client(args: argparse.Namespace) -> rstream.Client:
    return rstream.Client(engine=args.engine, token=args.token, read_config_file=False)


async def python_dials_rust(args: argparse.Namespace) -> None:
    name = "rust-owned-echo"
    peer = await asyncio.create_subprocess_exec(
        args.peer,
        "serve-echo",
        name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(peer.stdout.readline(), 60)).decode().strip()
        if not line.startswith("ready "):
            record("rust peer serves a private tunnel", False, f"peer said {line!r}")
            return
        tunnel_id = line.split(" ", 1)[1]
        record("rust peer serves a private tunnel", True, tunnel_id)
        client = python_client(args)
        try:
            for target, label in ((name, "name"), (tunnel_id, "id")):
                for zero_rtt in (True, False):

                    async def exchange(target=target, zero_rtt=zero_rtt) -> None:
                        stream = await client.dial(target, zero_rtt=zero_rtt)
                        try:
                            message = f"python->{target}:{zero_rtt}".encode()
                            stream.write(message)
                            await stream.drain()
                            back = await stream.readexactly(len(message))
                            if back != message:
                                raise AssertionError(f"echo was {back!r}")
                        finally:
                            stream.close()
                            await stream.wait_closed()

                    await check(
                        f"python dials rust tunnel by {label}, zero_rtt={zero_rtt}",
                        exchange(),
                    )
        finally:
            await client.close()
    finally:
        if peer.stdin:
            peer.stdin.close()
        try:
            await asyncio.wait_for(peer.wait(), 15)
        except asyncio.TimeoutError:
            peer.kill()
            await peer.wait()
        record("rust peer closes cleanly", peer.returncode == 0, f"exit {peer.returncode}")


async def rust_dials_python(args: argparse.Namespace) -> None:
    name = "python-owned-echo"
    client = python_client(args)
    control = await client.connect()
    tunnel = await control.create_tunnel(name=name)

    async def echo(stream: rstream.RstreamStream) -> None:
        try:
            while data := await stream.read(16384):
                stream.write(data)
                await stream.drain()
        finally:
            stream.close()

    async def serve() -> None:
        async for stream in tunnel:
            asyncio.create_task(echo(stream))

    server = asyncio.create_task(serve())
    try:
        for target, label in ((name, "name"), (tunnel.id, "id")):
            for zero_rtt in (True, False):
                message = f"rust->{label}:{zero_rtt}"

                async def run_peer(target=target, zero_rtt=zero_rtt, message=message) -> None:
                    peer = await asyncio.create_subprocess_exec(
                        args.peer,
                        "dial",
                        target,
                        "true" if zero_rtt else "false",
                        message,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                    )
                    out, err = await peer.communicate()
                    if peer.returncode != 0:
                        raise AssertionError(f"peer failed: {err.decode().strip()}")
                    if out.decode().strip() != message:
                        raise AssertionError(f"echo was {out!r}")

                await check(f"rust dials python tunnel by {label}, zero_rtt={zero_rtt}", run_peer())
    finally:
        server.cancel()
        await control.close()
        await client.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--peer", required=True)
    args = parser.parse_args()
    os.environ["RSTREAM_ENGINE"] = args.engine
    os.environ["RSTREAM_AUTHENTICATION_TOKEN"] = args.token
    await python_dials_rust(args)
    await rust_dials_python(args)
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"runtime interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
