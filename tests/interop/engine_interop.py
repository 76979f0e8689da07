#!/usr/bin/env python3
"""Engine interop: the official Python SDK against the local engine.

Needs a Python with `rstreamlabs-rstream[asgi,api,realtime]==0.7.0` installed and a
running `rstream-local-engine`, whose JSON start-up line is passed in:

    python tests/interop/engine_interop.py --engine-json '{"engine": ...}'

Prints one line per check and ends with `N passed, N failed`; exits non-zero
when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import traceback
from importlib import metadata

import rstream
from rstream import Client, EngineError, TLSOptions, TunnelFilters
from rstream.asgi import serve

EXPECTED_SDK = "0.7.0"
GUARD = 30.0


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    async def run(self, name: str, check) -> None:
        try:
            detail = await asyncio.wait_for(check(), GUARD)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
            traceback.print_exc(limit=3, file=sys.stdout)
            return
        self.passed += 1
        print(f"ok   {name}" + (f" ({detail})" if detail else ""))


async def echo(tunnel) -> None:
    async def one(stream) -> None:
        try:
            while True:
                data = await stream.read(65536)
                if not data:
                    break
                stream.write(data)
                await stream.drain()
        except Exception:  # noqa: BLE001 - the peer went away
            pass
        finally:
            stream.close()

    async for stream in tunnel:
        asyncio.create_task(one(stream))


async def hello_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = f"hello from python at {scope['path']}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_get(edge: str, host: str, path: str) -> tuple[int, bytes]:
    address, port = edge.rsplit(":", 1)
    conn = http.client.HTTPConnection(address, int(port), timeout=GUARD)
    try:
        conn.request("GET", path, headers={"Host": f"{host}:{port}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine-json", required=True)
    args = parser.parse_args()
    info = json.loads(args.engine_json)
    engine, edge, token, ca_file = info["engine"], info["edge"], info["token"], info["ca_file"]
    tls = TLSOptions(ca_file=ca_file)

    def client(**kw) -> Client:
        options = dict(engine=engine, token=token, tls=tls, read_config_file=False)
        options.update(kw)
        return Client(**options)

    checks = Checks()
    state: dict[str, object] = {}
    tasks: list[asyncio.Task] = []

    async def sdk_version():
        version = metadata.version("rstreamlabs-rstream")
        assert version == EXPECTED_SDK, f"installed {version}, want {EXPECTED_SDK}"
        return version

    async def connect_with_token():
        c = client()
        control = await c.connect()
        details = control.server_details
        assert details is not None and details.agent == "rstream-local-engine", details
        state["client"], state["control"] = c, control
        return f"server agent {details.agent}"

    async def published_http_through_edge():
        control = state["control"]
        tunnel = await control.create_tunnel(name="py-web", publish=True, protocol="http", labels={"env": "interop"})
        state["web"] = tunnel
        tasks.append(asyncio.create_task(serve(hello_app, tunnel)))
        host = tunnel.properties.hostname
        assert host and host.endswith(".localhost"), host
        assert tunnel.forwarding_address.startswith("https://"), tunnel.forwarding_address
        status, body = await asyncio.to_thread(http_get, edge, host, "/ping")
        assert status == 200, (status, body)
        assert body == b"hello from python at /ping", body
        status, _ = await asyncio.to_thread(http_get, edge, "nobody.localhost", "/")
        assert status == 404, status
        return f"{tunnel.forwarding_address} answered through the edge"

    async def private_tunnel():
        control = state["control"]
        tunnel = await control.create_tunnel(name="py-private")
        state["private"] = tunnel
        tasks.append(asyncio.create_task(echo(tunnel)))
        assert tunnel.forwarding_address == "rstrm://py-private (unpublished)", tunnel.forwarding_address
        return tunnel.id

    def dial_check(by: str, zero_rtt: bool):
        async def check():
            tunnel = state["private"]
            target = tunnel.id if by == "id" else "py-private"
            stream = await client().dial(target, zero_rtt=zero_rtt)
            try:
                for size in (5, 70_000):
                    data = bytes(i % 251 for i in range(size))
                    stream.write(data)
                    await stream.drain()
                    back = await stream.readexactly(size)
                    assert back == data, f"{size} bytes did not come back intact"
            finally:
                stream.close()
            return f"{target}, zero_rtt={zero_rtt}"

        return check

    async def dial_unknown():
        try:
            await client().dial("no-such-tunnel", zero_rtt=False)
        except EngineError as error:
            assert error.engine_code == 3000, error.engine_code
            return "engine code 3000"
        raise AssertionError("dialing an unknown tunnel succeeded")

    async def heartbeats():
        c = client(heartbeat_interval=1.0)
        control = await c.connect()
        await asyncio.sleep(4.5)
        assert not control.closed, "the channel failed while heartbeats ran"
        await control.close()
        await c.close()
        return "1 s heartbeats acknowledged for 4.5 s"

    async def list_tunnels():
        c = state["client"]
        items = await c.list_tunnels()
        names = {i.properties.name for i in items}
        assert {"py-web", "py-private"} <= names, names
        web = [i for i in items if i.properties.name == "py-web"][0]
        assert web.status == "online" and web.client_id, web
        filtered = await c.list_tunnels(filters=TunnelFilters(labels={"env": None}))
        assert [i.properties.name for i in filtered] == ["py-web"], filtered
        limited = await c.list_tunnels(limit=1)
        assert len(limited) == 1, limited
        clients = await c.list_clients()
        assert clients, "no clients listed"
        return f"{len(items)} tunnels"

    def watch_events(transport: str):
        async def check():
            c = state["client"]
            seen = []
            name = f"py-watched-{transport}"
            filters = TunnelFilters(name=name)
            async with c.watch(tunnels=filters, transport=transport) as events:
                async for event in events:
                    seen.append(event.type)
                    if event.type == "state.initial":
                        tunnel = await state["control"].create_tunnel(name=name)
                        await tunnel.close()
                    if event.type == "tunnel.deleted":
                        break
            assert seen == ["state.initial", "tunnel.created", "tunnel.deleted"], seen
            return ", ".join(seen)

        return check

    async def dial_unknown():
        try:
            await client().dial("no-such-tunnel", zero_rtt=False)
        except EngineError as error:
            assert error.engine_code == 3000, error.engine_code
            return "engine code 3000"
        raise AssertionError("dialing an unknown tunnel succeeded")

    async def heartbeats():
        c = client(heartbeat_interval=1.0)
        control = await c.connect()
        await asyncio.sleep(4.5)
        assert not control.closed, "the channel failed while heartbeats ran"
        await control.close()
        await c.close()
        return "1 s heartbeats acknowledged for 4.5 s"

    async def list_tunnels():
        c = state["client"]
        items = await c.list_tunnels()
        names = {i.properties.name for i in items}
        assert {"py-web", "py-private"} <= names, names
        web = [i for i in items if i.properties.name == "py-web"][0]
        assert web.status == "online" and web.client_id, web
        filtered = await c.list_tunnels(filters=TunnelFilters(labels={"env": None}))
        assert [i.properties.name for i in filtered] == ["py-web"], filtered
        limited = await c.list_tunnels(limit=1)
        assert len(limited) == 1, limited
        clients = await c.list_clients()
        assert clients, "no clients listed"
        return f"{len(items)} tunnels"

    def watch_events(transport: str):
      async def check():
        c = state["client"]
        seen = []
        name = f"py-watched-{transport}"
        async with c.watch(tunnels=TunnelFilters(name=name), transport=transport) as events:
            async for event in events:
                seen.append(event.type)
                if event.type == "state.initial":
                    tunnel = await state["control"].create_tunnel(name=name)
                    await tunnel.close()
                if event.type == "tunnel.deleted":
                    break
        assert seen == ["state.initial", "tunnel.created", "tunnel.deleted"], seen
        return ", ".join(seen)

      return check

    async def wrong_token():
        try:
            await client(token="tok_wrong").connect()
        except EngineError as error:
            assert error.engine_code == 1000, error.engine_code
            return "engine code 1000"
        raise AssertionError("a wrong token was accepted")

    async def clean_close():
        control, c = state["control"], state["client"]
        await control.close()
        assert control.closed
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        items = await c.list_tunnels()
        assert not [i for i in items if i.properties.name in ("py-web", "py-private")], items
        await c.close()
        return "tunnels gone from the inventory"

    await checks.run("official SDK version", sdk_version)
    await checks.run("connect with token", connect_with_token)
    if "control" in state:
        await checks.run("published http tunnel served by rstream.asgi.serve via the HTTP edge", published_http_through_edge)
        await checks.run("private tunnel", private_tunnel)
        if "private" in state:
            for by in ("name", "id"):
                for zero_rtt in (True, False):
                    await checks.run(f"dial by {by}, zero_rtt={zero_rtt}", dial_check(by, zero_rtt))
        await checks.run("dial an unknown tunnel", dial_unknown)
        await checks.run("list tunnels and clients via the engine API", list_tunnels)
        await checks.run("watch events via SSE", watch_events("sse"))
        await checks.run("watch events via WebSocket", watch_events("websocket"))
    await checks.run("heartbeats every 1 s held for 4 s", heartbeats)
    await checks.run("wrong token is engine error 1000", wrong_token)
    if "control" in state:
        await checks.run("clean close", clean_close)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
