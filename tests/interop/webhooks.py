#!/usr/bin/env python3
"""Webhook interop: the official Python SDK against rstream-webhooks.

Needs a Python with `rstreamlabs-rstream==0.7.0` installed. The Rust side is
the `webhook-tool` example of the rstream-webhooks crate; by default this
script builds it with cargo, or takes a prebuilt binary:

    python tests/interop/webhooks.py [--tool path/to/webhook-tool]

Prints one line per check and ends with `N passed, N failed`; exits non-zero
when a check fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from rstream.webhooks import (
    WebhookEvent,
    build_headers,
    generate_signing_secret,
    sign_payload,
    verify_event,
)

EXPECTED_SDK = "0.7.0"
REPO = Path(__file__).resolve().parents[2]

BODY = json.dumps(
    {
        "id": "evt_interop",
        "type": "tunnel.created",
        "created_at": "2026-11-22T10:00:00Z",
        "user_id": "usr_1",
        "workspace_id": "wsp_1",
        "project_id": "prj_1",
        "cluster_id": "cls_1",
        "object": {"id": "tun_1", "name": "api", "labels": {"env": "prod"}},
    },
    separators=(",", ":"),
).encode()


def build_tool() -> str:
    """Builds the webhook-tool example and returns the executable's path."""
    out = subprocess.run(
        [
            "cargo", "build", "--quiet", "-p", "rstream-webhooks",
            "--example", "webhook-tool", "--message-format=json",
        ],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("executable") and target.get("name") == "webhook-tool":
            return message["executable"]
    raise SystemExit("cargo built no webhook-tool executable")


class Rust:
    """The Rust side, through webhook-tool."""

    def __init__(self, tool: str) -> None:
        self.tool = tool

    def _run(self, args: list[str], body: bytes) -> subprocess.CompletedProcess:
        return subprocess.run([self.tool, *args], input=body, capture_output=True, check=False)

    def sign(self, body: bytes, secret: str, timestamp: int) -> str:
        """The header, or a string no one accepts when signing failed."""
        done = self._run(["sign", "--secret", secret, "--timestamp", str(timestamp)], body)
        if done.returncode != 0:
            print(f"     (rust sign failed: {done.stderr.decode().strip()})")
            return "sign-failed"
        return done.stdout.decode().strip()

    def verify(self, body: bytes, header: str, secret: str, now: int) -> dict | None:
        """The event as a dict, or None when rejected."""
        done = self._run(
            ["verify", "--secret", secret, "--header", header, "--now", str(now)], body
        )
        if done.returncode == 0:
            return json.loads(done.stdout)
        if done.returncode != 1:
            print(f"     (rust verify failed to run: {done.stderr.decode().strip()})")
        return None

    def generate_secret(self) -> str:
        return self._run(["generate-secret"], b"").stdout.decode().strip()


def python_accepts(body: bytes, header: str, secret: str, now: int) -> WebhookEvent | None:
    try:
        return verify_event(body, header, secret, received_at=now)
    except Exception:  # the SDK raises its own RuntimeError on rejection
        return None


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")


def same_event(rust: dict | None, py: WebhookEvent | None) -> bool:
    if rust is None or py is None:
        return False
    return (
        rust["id"] == py.id
        and rust["type"] == py.type
        and rust["created_at"] == py.created_at
        and rust["user_id"] == py.user_id
        and rust["workspace_id"] == py.workspace_id
        and rust["project_id"] == py.project_id
        and rust["cluster_id"] == py.cluster_id
        and rust["object"] == json.loads(json.dumps(py.object, default=dict))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", help="prebuilt webhook-tool; built with cargo when absent")
    args = parser.parse_args()

    checks = Checks()
    version = metadata.version("rstreamlabs-rstream")
    checks.check(f"python sdk is rstreamlabs-rstream {EXPECTED_SDK}", version == EXPECTED_SDK, version)
    rust = Rust(args.tool or build_tool())

    now = int(time.time())
    secret = generate_signing_secret()
    tampered = BODY.replace(b'"name":"api"', b'"name":"apx"')

    # Python signs, Rust verifies.
    py_header = sign_payload(BODY, secret, now)
    rust_event = rust.verify(BODY, py_header, secret, now)
    checks.check("python signs, rust verifies", rust_event is not None)
    checks.check(
        "rust reads the same event as python",
        same_event(rust_event, python_accepts(BODY, py_header, secret, now)),
        json.dumps(rust_event),
    )

    # Rust signs, Python verifies.
    rust_header = rust.sign(BODY, secret, now)
    checks.check("rust signs, python verify_event accepts", python_accepts(BODY, rust_header, secret, now) is not None)
    checks.check("rust and python produce the same header", rust_header == py_header, f"{rust_header} vs {py_header}")

    # Tampering is refused on both sides.
    checks.check("tampered body: rust rejects python's signature", rust.verify(tampered, py_header, secret, now) is None)
    checks.check("tampered body: python rejects rust's signature", python_accepts(tampered, rust_header, secret, now) is None)
    flipped = rust_header[:-1] + ("0" if rust_header[-1] != "0" else "1")
    checks.check("tampered signature: rust rejects", rust.verify(BODY, flipped, secret, now) is None)
    checks.check("tampered signature: python rejects", python_accepts(BODY, flipped, secret, now) is None)

    # Wrong secret and stale timestamps.
    other = generate_signing_secret()
    checks.check("wrong secret: rust rejects", rust.verify(BODY, py_header, other, now) is None)
    checks.check("wrong secret: python rejects", python_accepts(BODY, rust_header, other, now) is None)
    old = now - 301
    checks.check("stale (301 s): rust rejects python's signature", rust.verify(BODY, sign_payload(BODY, secret, old), secret, now) is None)
    checks.check("stale (301 s): python rejects rust's signature", python_accepts(BODY, rust.sign(BODY, secret, old), secret, now) is None)
    edge = now - 300
    checks.check("300 s old: rust accepts python's signature", rust.verify(BODY, sign_payload(BODY, secret, edge), secret, now) is not None)
    checks.check("300 s old: python accepts rust's signature", python_accepts(BODY, rust.sign(BODY, secret, edge), secret, now) is not None)

    # Secrets generated on one side work on the other.
    rust_secret = rust.generate_secret()
    checks.check(
        "rust-generated secret has the SDK's shape",
        rust_secret.startswith("whsec_") and len(rust_secret) == len(secret) and "=" not in rust_secret,
        f"{len(rust_secret)} vs {len(secret)} characters",
    )
    checks.check(
        "rust-generated secret: rust signs, python verifies",
        python_accepts(BODY, rust.sign(BODY, rust_secret, now), rust_secret, now) is not None,
    )

    # Rotation: two v1 signatures, either secret verifies.
    rotated = f"{sign_payload(BODY, other, now)},v1={py_header.split('v1=')[1]}"
    checks.check("two v1 signatures: rust accepts with the second's secret", rust.verify(BODY, rotated, secret, now) is not None)
    checks.check("two v1 signatures: python agrees", python_accepts(BODY, rotated, secret, now) is not None)

    # Non-ASCII bodies are signed byte for byte.
    unicode_body = json.dumps(
        {"id": "evt_ü", "type": "client.created", "object": {"name": "café ☕"}}, ensure_ascii=False
    ).encode()
    checks.check(
        "non-ASCII body: same header on both sides",
        rust.sign(unicode_body, secret, now) == sign_payload(unicode_body, secret, now),
    )

    # Every deliverable type passes; others are refused by both.
    for event_type in ("client.created", "client.deleted", "tunnel.created", "tunnel.deleted"):
        body = json.dumps({"id": f"evt_{event_type}", "type": event_type, "object": {}}).encode()
        header = sign_payload(body, secret, now)
        event = rust.verify(body, header, secret, now)
        checks.check(f"type {event_type}: rust accepts", event is not None and event["type"] == event_type)
    # webtty.* kinds: the JavaScript SDK's schema accepts them, the Python SDK
    # 0.7.0 does not know them (a documented difference, see EventType).
    for event_type in ("webtty.session.created", "webtty.control.revoked"):
        body = json.dumps({"id": f"evt_{event_type}", "type": event_type, "object": {}}).encode()
        header = sign_payload(body, secret, now)
        event = rust.verify(body, header, secret, now)
        checks.check(f"type {event_type}: rust accepts", event is not None and event["type"] == event_type)
        checks.check(f"type {event_type}: python 0.7.0 refuses", python_accepts(body, header, secret, now) is None)
    bad_type = json.dumps({"id": "evt_x", "type": "tunnel.updated", "object": {}}).encode()
    bad_header = sign_payload(bad_type, secret, now)
    checks.check("type tunnel.updated: rust rejects", rust.verify(bad_type, bad_header, secret, now) is None)
    checks.check("type tunnel.updated: python rejects", python_accepts(bad_type, bad_header, secret, now) is None)

    # The SDK's build_headers signature matches ours.
    headers = build_headers(
        BODY,
        WebhookEvent(id="evt_interop", type="tunnel.created"),
        secret,
        webhook_id="whk_1",
        delivery_id="dlv_1",
        timestamp=now,
    )
    checks.check(
        "build_headers' rstream-signature: rust verifies",
        rust.verify(BODY, headers["rstream-signature"], secret, now) is not None,
    )

    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
