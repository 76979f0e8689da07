"""Configuration differential: the official Python SDK and rstream-core
resolve the same config file, environment and explicit options; the
outcomes must agree field by field, or differ exactly as a documented
deviation says (see the table in rstream-core's `config` module docs).

Run by tests/interop/run.sh with the interop venv's Python:

    python config_differential.py --peer target/debug/rstream-interop-peer
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import httpx
from httpx._utils import URLPattern, get_environment_proxies
from rstream.config import ClientOptions, TLSOptions, resolve_client_options

FIELDS = (
    "engine",
    "token_sha256",
    "mtls_cert_file",
    "mtls_key_file",
    "mtls_inline",
    "project_endpoint",
    "region",
    "api_url",
    "ca_file",
    "server_name",
    "insecure_skip_verify",
    "api_headers",
    "api_proxy",
)


def jwt(exp: int) -> str:
    def part(value: dict) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp, 'sub': 'x'})}.c2ln"


PAST = jwt(int(time.time()) - 3600)
FUTURE = jwt(int(time.time()) + 3600)

STORED = """
version: 1
defaults:
  context:
    name: prod
environments:
  - apiUrl: https://rstream.io
    headers:
      x-team: edge
    auth:
      token:
        storage:
          kind: inline
          value: env-entry-token
contexts:
  - name: prod
    apiUrl: https://rstream.io
    engine: prod.example.com
    auth:
      token:
        storage:
          kind: inline
          value: prod-token
  - name: bare
    engine: bare.example.com
  - name: inherits
    apiUrl: https://rstream.io
    engine: inherits.example.com
  - name: staging
    apiUrl: https://staging.example.com
    engine: staging-a.example.com
  - name: staging
    apiUrl: https://other.example.com
    engine: staging-b.example.com
  - name: managed
    apiUrl: https://rstream.io
    projectEndpoint: abc123
    engine: abc123.eu.example.com
    region: eu
    auth:
      token:
        storage:
          kind: inline
          value: managed-token
  - name: mtls
    engine: mtls.example.com
    auth:
      mtls:
        certificateFile: ctx-cert.pem
        keyFile: ctx-key.pem
"""


def ctx(body: str, name: str = "c", default: bool = True) -> str:
    """A file with one context `name` whose body is `body` (indented YAML)."""
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    head = f"defaults:\n  context:\n    name: {name}\n" if default else ""
    return f"version: 1\n{head}contexts:\n  - name: {name}\n{lines}\n"


def token(kind_lines: str) -> str:
    body = "\n".join("        " + line for line in kind_lines.strip("\n").splitlines())
    return f"engine: t.example.com\nauth:\n  token:\n    storage:\n{body}\n"


# (name, config file text or None, environment, explicit options)
CASES: list[tuple[str, str | None, dict, dict]] = [
    # Precedence and defaults.
    ("nothing configured", None, {}, {}),
    ("engine from RSTREAM_ENGINE", None, {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("engine with a port", None, {"RSTREAM_ENGINE": "e.example.com:8443"}, {}),
    ("engine alias", None, {"RSTREAM_ENGINE_ADDRESS": "alias.example.com"}, {}),
    ("RSTREAM_ENGINE beats the alias", None,
     {"RSTREAM_ENGINE": "a.example.com", "RSTREAM_ENGINE_ADDRESS": "b.example.com"}, {}),
    ("a blank RSTREAM_ENGINE hides the alias", None,
     {"RSTREAM_ENGINE": "", "RSTREAM_ENGINE_ADDRESS": "b.example.com"}, {}),
    ("a blank RSTREAM_ENGINE alone", None, {"RSTREAM_ENGINE": "  "}, {}),
    ("engine option beats RSTREAM_ENGINE", None, {"RSTREAM_ENGINE": "a.example.com"},
     {"engine": "o.example.com"}),
    ("engine host is lowercased", None, {"RSTREAM_ENGINE": "MiXed.Example.COM"}, {}),
    ("token from the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "tok"}, {}),
    ("token option beats the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "env"},
     {"token": "opt"}),
    ("a blank token variable is unset", STORED, {"RSTREAM_AUTHENTICATION_TOKEN": " "}, {}),
    # Context selection.
    ("default context", STORED, {}, {}),
    ("RSTREAM_CONTEXT beats the default", STORED, {"RSTREAM_CONTEXT": "bare"}, {}),
    ("context option beats RSTREAM_CONTEXT", STORED, {"RSTREAM_CONTEXT": "bare"},
     {"context": "inherits"}),
    ("unknown context", STORED, {"RSTREAM_CONTEXT": "nope"}, {}),
    ("ambiguous context", STORED, {"RSTREAM_CONTEXT": "staging"}, {}),
    ("API URL picks among same-named contexts", STORED,
     {"RSTREAM_CONTEXT": "staging", "RSTREAM_API_URL": "https://other.example.com/"}, {}),
    ("API URL option picks among same-named contexts", STORED,
     {"RSTREAM_CONTEXT": "staging"}, {"api_url": "https://staging.example.com"}),
    ("context of another API URL is not found", STORED,
     {"RSTREAM_CONTEXT": "prod", "RSTREAM_API_URL": "https://staging.example.com"}, {}),
    ("context inherits the environment entry's token", STORED,
     {"RSTREAM_CONTEXT": "inherits"}, {}),
    ("context without apiUrl inherits nothing", STORED, {"RSTREAM_CONTEXT": "bare"}, {}),
    ("context token beats the environment entry's", STORED, {}, {}),
    ("environment token beats the stored one", STORED,
     {"RSTREAM_AUTHENTICATION_TOKEN": "env-tok"}, {}),
    ("nameless contexts are skipped", "contexts:\n  - engine: x.example.com\n", {}, {}),
    ("default context missing from the file", "defaults:\n  context:\n    name: ghost\n", {}, {}),
    ("YAML merge keys", "base: &b\n  engine: merged.example.com\ndefaults:\n  context:\n"
     "    name: m\ncontexts:\n  - <<: *b\n    name: m\n", {}, {}),
    # API URL.
    ("API URL default", None, {}, {}),
    ("API URL from the environment, trailing slash", None,
     {"RSTREAM_API_URL": "https://api.example.com/"}, {}),
    ("API URL option beats the environment", None,
     {"RSTREAM_API_URL": "https://env.example.com"}, {"api_url": "https://opt.example.com"}),
    ("API URL from the context", STORED, {"RSTREAM_CONTEXT": "staging",
                                          "RSTREAM_API_URL": "https://staging.example.com"}, {}),
    ("API URL with a bad scheme", None, {"RSTREAM_API_URL": "ftp://x.example.com"}, {}),
    ("API URL without a host", None, {"RSTREAM_API_URL": "https://"}, {}),
    # Engine override and stored credentials (fail closed).
    ("override meets a stored context token", STORED, {"RSTREAM_ENGINE": "other.example.com"}, {}),
    ("override option meets a stored context token", STORED, {}, {"engine": "other.example.com"}),
    ("override naming the context's engine", STORED, {"RSTREAM_ENGINE": "prod.example.com"}, {}),
    ("override adds the default port", STORED, {"RSTREAM_ENGINE": "prod.example.com:443"}, {}),
    ("override differs only in case", STORED, {"RSTREAM_ENGINE": "PROD.example.com"}, {}),
    ("override with an explicit token", STORED,
     {"RSTREAM_ENGINE": "other.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "mine"}, {}),
    ("override with a token option", STORED, {"RSTREAM_ENGINE": "other.example.com"},
     {"token": "mine"}),
    ("override meets an inherited token", STORED,
     {"RSTREAM_CONTEXT": "inherits", "RSTREAM_ENGINE": "other.example.com"}, {}),
    ("override meets stored mTLS", STORED,
     {"RSTREAM_CONTEXT": "mtls", "RSTREAM_ENGINE": "other.example.com"}, {}),
    ("override with explicit mTLS files", STORED,
     {"RSTREAM_CONTEXT": "mtls", "RSTREAM_ENGINE": "other.example.com",
      "RSTREAM_MTLS_CERT_FILE": "c.pem", "RSTREAM_MTLS_KEY_FILE": "k.pem"}, {}),
    ("override with no_token", STORED, {"RSTREAM_ENGINE": "other.example.com"},
     {"no_token": True}),
    ("override without a context", None, {"RSTREAM_ENGINE": "other.example.com"}, {}),
    # Engine address forms.
    ("engine with an empty port", None, {"RSTREAM_ENGINE": "e.example.com:"}, {}),
    ("engine as bracketed IPv6", None, {"RSTREAM_ENGINE": "[::1]:443"}, {}),
    ("engine with a scheme", None, {"RSTREAM_ENGINE": "https://e.example.com"}, {}),
    ("engine with a path", None, {"RSTREAM_ENGINE": "e.example.com/x"}, {}),
    ("engine port zero", None, {"RSTREAM_ENGINE": "e.example.com:0"}, {}),
    ("engine port too large", None, {"RSTREAM_ENGINE": "e.example.com:70000"}, {}),
    ("engine with user info", None, {"RSTREAM_ENGINE": "u@e.example.com"}, {}),
    ("engine with an underscore", None, {"RSTREAM_ENGINE": "bad_host.example.com"}, {}),
    ("engine localhost with a port", None, {"RSTREAM_ENGINE": "localhost:8443"}, {}),
    ("engine IPv4", None, {"RSTREAM_ENGINE": "127.0.0.1:9000"}, {}),
    ("engine with a space", None, {"RSTREAM_ENGINE": "e example.com"}, {}),
    ("context engine with a scheme", ctx("engine: https://x.example.com"), {}, {}),
    # Token storage.
    ("stored token kind inline", ctx(token("kind: inline\nvalue: s1")), {}, {}),
    ("stored token kind Inline", ctx(token("kind: Inline\nvalue: s1")), {}, {}),
    ("stored token kind env", ctx(token("kind: env\nvalue: s1")), {}, {}),
    ("stored token provider inline", ctx(token("provider: inline\nvalue: s1")), {}, {}),
    ("stored token without kind", ctx(token("value: s1")), {}, {}),
    ("stored token kind inline with a provider",
     ctx(token("kind: inline\nprovider: macos\nvalue: s1")), {}, {}),
    ("stored token kind keychain", ctx(token("kind: keychain\nprovider: macos")), {}, {}),
    ("stored token kind inline without value", ctx(token("kind: inline")), {}, {}),
    # mTLS.
    ("stored mTLS files", STORED, {"RSTREAM_CONTEXT": "mtls"}, {}),
    ("stored inline mTLS", ctx("engine: m.example.com\nauth:\n  mtls:\n    certificate: CERT\n"
                               "    key: KEY"), {}, {}),
    ("stored mTLS with only a certificate file",
     ctx("engine: m.example.com\nauth:\n  mtls:\n    certificateFile: c.pem"), {}, {}),
    ("stored mTLS in a key store",
     ctx("engine: m.example.com\nauth:\n  mtls:\n    storage:\n      kind: pkcs11"), {}, {}),
    ("stored token and stored mTLS together",
     ctx("engine: m.example.com\nauth:\n  token:\n    storage:\n      kind: inline\n"
         "      value: t\n  mtls:\n    certificateFile: c.pem\n    keyFile: k.pem"), {}, {}),
    ("mTLS files from the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_MTLS_CERT_FILE": "c.pem",
      "RSTREAM_MTLS_KEY_FILE": "k.pem"}, {}),
    ("half an mTLS pair in the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_MTLS_CERT_FILE": "c.pem"}, {}),
    ("environment mTLS hides the stored token", STORED,
     {"RSTREAM_MTLS_CERT_FILE": "c.pem", "RSTREAM_MTLS_KEY_FILE": "k.pem"}, {}),
    ("explicit token meets stored mTLS", STORED,
     {"RSTREAM_CONTEXT": "mtls", "RSTREAM_AUTHENTICATION_TOKEN": "t"}, {}),
    ("environment token and environment mTLS", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "t",
      "RSTREAM_MTLS_CERT_FILE": "c.pem", "RSTREAM_MTLS_KEY_FILE": "k.pem"}, {}),
    ("mTLS files as options", None, {"RSTREAM_ENGINE": "e.example.com"},
     {"mtls_cert_file": "oc.pem", "mtls_key_file": "ok.pem"}),
    # Token expiry and the token knobs.
    ("expired JWT in the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": PAST}, {}),
    ("valid JWT in the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": FUTURE}, {}),
    ("expired stored JWT", ctx(token(f"kind: inline\nvalue: {PAST}")), {}, {}),
    ("require_token with nothing", None, {"RSTREAM_ENGINE": "e.example.com"},
     {"require_token": True}),
    ("require_token with a token", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "t"},
     {"require_token": True}),
    ("require_token with mTLS", STORED, {"RSTREAM_CONTEXT": "mtls"}, {"require_token": True}),
    ("no_token drops the environment token", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_AUTHENTICATION_TOKEN": "t"},
     {"no_token": True}),
    ("no_token drops the stored token", STORED, {}, {"no_token": True}),
    ("no_token and require_token", STORED, {}, {"no_token": True, "require_token": True}),
    # Which file.
    ("no_config_file ignores the file and RSTREAM_CONTEXT", STORED,
     {"RSTREAM_CONTEXT": "bare"}, {"no_config_file": True}),
    ("missing RSTREAM_CONFIG file reads as empty", "@missing",
     {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("missing file with a context named", "@missing", {"RSTREAM_CONTEXT": "prod"}, {}),
    ("config_file option", "@option", {}, {}),
    # Projects and regions.
    ("context project endpoint", ctx("apiUrl: https://rstream.io\nprojectEndpoint: p1"), {}, {}),
    ("project endpoint option", None, {}, {"project_endpoint": "p2"}),
    ("region hands the engine to the control plane", STORED, {"RSTREAM_CONTEXT": "managed"}, {}),
    ("region from the environment", ctx("projectEndpoint: p1\nengine: p1.example.com"),
     {"RSTREAM_REGION": "US"}, {}),
    ("region auto means none", STORED, {"RSTREAM_CONTEXT": "managed", "RSTREAM_REGION": "auto"},
     {}),
    ("region option", ctx("projectEndpoint: p1"), {}, {"region": "ap"}),
    ("region with an engine override", STORED,
     {"RSTREAM_CONTEXT": "managed", "RSTREAM_ENGINE": "x.example.com"}, {}),
    ("region without a project endpoint", None, {"RSTREAM_REGION": "eu"}, {}),
    ("region with bad characters", ctx("projectEndpoint: p1"), {"RSTREAM_REGION": "eu west"}, {}),
    # Control-plane headers.
    ("headers from the environment", None,
     {"RSTREAM_CONTROL_PLANE_HEADERS": '{"x-request-source": "ci"}'}, {}),
    ("headers merge, environment over file", STORED,
     {"RSTREAM_CONTROL_PLANE_HEADERS": '{"X-TEAM": "core", "x-extra": "1"}'}, {}),
    ("header option wins", None, {"RSTREAM_CONTROL_PLANE_HEADERS": '{"x-a": "env"}'},
     {"api_headers": {"X-A": "opt"}}),
    ("reserved header", None, {"RSTREAM_CONTROL_PLANE_HEADERS": '{"Authorization": "x"}'}, {}),
    ("forwarded header", None, {"RSTREAM_CONTROL_PLANE_HEADERS": '{"X-Forwarded-For": "x"}'}, {}),
    ("headers that are not JSON", None, {"RSTREAM_CONTROL_PLANE_HEADERS": "x-a: 1"}, {}),
    ("header value that is not a string", None,
     {"RSTREAM_CONTROL_PLANE_HEADERS": '{"x-a": 1}'}, {}),
    # Transport.
    ("transport mode quic", ctx("engine: e.example.com\ntransport:\n  mode: quic"), {}, {}),
    ("transport mode tls", ctx("engine: e.example.com\ntransport:\n  mode: TLS"), {}, {}),
    ("transport mode unknown", ctx("engine: e.example.com\ntransport:\n  mode: carrier-pigeon"),
     {}, {}),
    ("useQuic true", ctx("engine: e.example.com\ntransport:\n  useQuic: true"), {}, {}),
    ("useQuic off (YAML 1.1)", ctx("engine: e.example.com\ntransport:\n  useQuic: off"), {}, {}),
    ("useQuic as a quoted string", ctx("engine: e.example.com\ntransport:\n  useQuic: 'no'"),
     {}, {}),
    ("RSTREAM_TUNNEL_TRANSPORT quic", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_TUNNEL_TRANSPORT": "quic"}, {}),
    ("RSTREAM_QUIC_TRANSPORT 1", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_QUIC_TRANSPORT": "1"}, {}),
    ("RSTREAM_TUNNEL_TRANSPORT tls beats useQuic",
     ctx("engine: e.example.com\ntransport:\n  useQuic: true"),
     {"RSTREAM_TUNNEL_TRANSPORT": "tls"}, {}),
    ("transport dns", ctx("engine: e.example.com\ntransport:\n  dns:\n    override: 1.1.1.1"),
     {}, {}),
    ("transport proxy", ctx("engine: e.example.com\ntransport:\n  proxy:\n"
                            "    http: http://proxy.example.com:3128"), {}, {}),
    ("transport tls", ctx("engine: e.example.com\ntransport:\n  tls:\n    caFile: ca.pem\n"
                          "    serverName: engine.internal"), {}, {}),
    ("TLS options", None, {"RSTREAM_ENGINE": "e.example.com"},
     {"ca_file": "opt-ca.pem", "server_name": "sni.example.com", "insecure_skip_verify": True}),
    # The control plane's proxy: the environment's, as HTTP clients read it.
    ("control plane behind HTTPS_PROXY", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "http://corp.example.com:8080"}, {}),
    ("control plane behind https_proxy", None,
     {"RSTREAM_ENGINE": "e.example.com", "https_proxy": "http://lower.example.com:3128"}, {}),
    ("proxy without a scheme", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "corp.example.com:8080"}, {}),
    ("NO_PROXY names the API host", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "http://corp.example.com:8080",
      "NO_PROXY": "localhost,rstream.io"}, {}),
    ("NO_PROXY names other hosts", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "http://corp.example.com:8080",
      "no_proxy": "localhost,internal.example.com"}, {}),
    ("NO_PROXY is a star", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "http://corp.example.com:8080",
      "NO_PROXY": "*"}, {}),
    ("NO_PROXY covers an API URL from the environment", None,
     {"RSTREAM_ENGINE": "e.example.com", "RSTREAM_API_URL": "https://api.corp.example.com",
      "HTTPS_PROXY": "http://corp.example.com:8080", "NO_PROXY": "corp.example.com"}, {}),
    ("HTTP_PROXY only", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTP_PROXY": "http://plain.example.com:3128"}, {}),
    ("ALL_PROXY only", None,
     {"RSTREAM_ENGINE": "e.example.com", "ALL_PROXY": "http://all.example.com:3128"}, {}),
    ("SOCKS in HTTPS_PROXY", None,
     {"RSTREAM_ENGINE": "e.example.com", "HTTPS_PROXY": "socks5://127.0.0.1:1080"}, {}),
    # Malformed files.
    ("invalid YAML", "contexts: [\n", {}, {}),
    ("blank file", "   \n", {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("top level is a list", "- a\n- b\n", {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("contexts is a mapping", "contexts: {}\n", {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("context engine is a list", ctx("engine: [x]"), {}, {}),
    ("defaults is a number", "defaults: 3\n", {"RSTREAM_ENGINE": "e.example.com"}, {}),
    ("duplicate keys", ctx("engine: a.example.com\nengine: b.example.com"), {}, {}),
]

# Deliberate deviations: the fields that differ from the Python SDK, and why
# (the Go reference's behaviour). The same table is in rstream-core's
# `config` module docs.
DEVIATIONS: dict[str, tuple[set[str], str]] = {
    "override differs only in case": (
        {"outcome"}, "config/resolve.go engineOverrideUsesStoredToken compares as written"),
    "engine as bracketed IPv6": (
        {"outcome"}, "Go dials host:port with net.Dial, which takes [::1]:443"),
    "engine with an empty port": (
        {"outcome"}, "Go's net.SplitHostPort refuses an empty port"),
    "stored token kind env": ({"outcome"}, "config/resolve.go TokenFromAuth: only inline"),
    "stored token provider inline": (
        {"outcome"}, "config/resolve.go TokenFromAuth: kind is required"),
    "stored token kind inline with a provider": (
        {"outcome"}, "config/resolve.go TokenFromAuth reads kind only"),
    "stored token without kind": (
        {"outcome"}, "config/resolve.go TokenFromAuth: kind is required"),
    "transport proxy": ({"outcome"}, "config/transport.go FlattenTransportWithError applies it"),
    "transport tls": (
        {"ca_file", "server_name"}, "config/transport.go EngineTLSConfig applies it"),
    "contexts is a mapping": ({"outcome"}, "config/io.go decodes into typed fields: an error"),
    "context engine is a list": ({"outcome"}, "config/io.go decodes into typed fields: an error"),
    "defaults is a number": ({"outcome"}, "config/io.go decodes into typed fields: an error"),
    "duplicate keys": ({"outcome"}, "yaml.v3 in config/io.go refuses duplicate keys"),
    "ALL_PROXY only": (
        {"api_proxy"}, "controlplane/client.go NewClient: net/http's ProxyFromEnvironment "
        "reads HTTPS_PROXY and NO_PROXY, not ALL_PROXY"),
    # Not backed by Go (its net/http dials SOCKS proxies): no SOCKS client
    # here, so a SOCKS proxy is refused by name rather than skipped.
    "SOCKS in HTTPS_PROXY": ({"outcome"}, "no SOCKS client: refused, not skipped"),
    # Not backed by Go: the YAML parser does not report quoting, so a quoted
    # YAML 1.1 word is read as the boolean too (Go and Python refuse it).
    "useQuic as a quoted string": ({"outcome"}, "lenient: quoting is not visible to the parser"),
}


def clean_env(case_env: dict, home: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RSTREAM_") and not k.lower().endswith("_proxy")}
    env["HOME"] = home
    env.update(case_env)
    return env


def httpx_proxy_for(url: str):
    """The proxy the SDK's HTTP client (httpx, which reads the environment)
    would use for `url`, by httpx's own mount rules."""
    mounts = sorted((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items())
    target = httpx.URL(url)
    return next((proxy for pattern, proxy in mounts if pattern.matches(target)), None)


def python_side(env: dict, options: dict) -> dict:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        tls = None
        if any(k in options for k in ("ca_file", "server_name", "insecure_skip_verify",
                                      "mtls_cert_file", "mtls_key_file")):
            tls = TLSOptions(
                ca_file=options.get("ca_file"),
                cert_file=options.get("mtls_cert_file"),
                key_file=options.get("mtls_key_file"),
                server_name=options.get("server_name"),
                insecure_skip_verify=options.get("insecure_skip_verify", False),
            )
        client_options = ClientOptions(
            engine=options.get("engine"),
            token=options.get("token"),
            api_url=options.get("api_url"),
            context=options.get("context"),
            config_path=options.get("config_file"),
            project_endpoint=options.get("project_endpoint"),
            region=options.get("region"),
            no_token=options.get("no_token"),
            require_token=options.get("require_token", False),
            read_config_file=not options.get("no_config_file", False),
            control_plane_headers=options.get("api_headers"),
            tls=tls,
        )
        resolved = asyncio.run(resolve_client_options(client_options))
        api_proxy = httpx_proxy_for(resolved.api_url)
    except Exception as error:  # noqa: BLE001 - any failure is an outcome
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # The engine the client would dial without asking the control plane
    # (client.py _resolve_engine): none when a region is selected.
    engine = resolved.engine if resolved.region is None else None
    if engine is not None and not engine.rsplit(":", 1)[-1].isdigit():
        engine = f"{engine}:443"
    tls = resolved.tls
    token = resolved.token
    return {
        "engine": engine,
        "token_sha256": hashlib.sha256(token.encode()).hexdigest() if token else None,
        "mtls_cert_file": tls.cert_file if tls else None,
        "mtls_key_file": tls.key_file if tls else None,
        "mtls_inline": bool(tls and tls.certificate and tls.key),
        "project_endpoint": resolved.project_endpoint,
        "region": resolved.region,
        "api_url": resolved.api_url,
        "ca_file": tls.ca_file if tls else None,
        "server_name": tls.server_name if tls else None,
        "insecure_skip_verify": bool(tls and tls.insecure_skip_verify),
        "api_headers": dict(resolved.control_plane_headers),
        "api_proxy": api_proxy,
    }


def rust_side(peer: str, env: dict, options: dict) -> dict:
    run = subprocess.run([peer, "resolve-config", json.dumps(options)], env=env,
                         capture_output=True, text=True, timeout=30, check=False)
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError:
        return {"error": f"peer printed no JSON (status {run.returncode}): {run.stderr.strip()}"}


def differences(py: dict, rs: dict) -> set[str]:
    if "error" in py or "error" in rs:
        return set() if ("error" in py) == ("error" in rs) else {"outcome"}
    return {field for field in FIELDS if py.get(field) != rs.get(field)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", required=True)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert not set(DEVIATIONS) - set(names), set(DEVIATIONS) - set(names)

    failures = 0
    agree = deviate = 0
    with tempfile.TemporaryDirectory() as home:
        for name, text, case_env, options in CASES:
            case_env = dict(case_env)
            options = dict(options)
            path = os.path.join(home, "config.yaml")
            if os.path.exists(path):
                os.remove(path)
            if text == "@missing":
                case_env["RSTREAM_CONFIG"] = os.path.join(home, "absent.yaml")
            elif text == "@option":
                with open(path, "w", encoding="utf-8") as f:
                    f.write(ctx("engine: from-option.example.com"))
                options["config_file"] = path
                case_env["RSTREAM_CONFIG"] = os.path.join(home, "absent.yaml")
            elif text is not None:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                case_env["RSTREAM_CONFIG"] = path
            env = clean_env(case_env, home)
            py = python_side(env, options)
            rs = rust_side(args.peer, env, options)
            found = differences(py, rs)
            expected, reason = DEVIATIONS.get(name, (set(), ""))
            if found != expected:
                failures += 1
                print(f"FAIL {name}: differs in {sorted(found)}, expected {sorted(expected)}")
                print(f"  python: {json.dumps(py, sort_keys=True)}")
                print(f"  rust:   {json.dumps(rs, sort_keys=True)}")
            else:
                if expected:
                    deviate += 1
                else:
                    agree += 1
                if args.verbose:
                    label = f"deviation ({reason})" if expected else "same"
                    print(f"ok   {name}: {label}")
    print(f"config differential: {len(CASES)} cases, {agree} identical, "
          f"{deviate} documented deviations, {failures} unexplained")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
