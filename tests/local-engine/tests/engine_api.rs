//! The local engine's HTTP API subset over TLS: bearer auth, inventory with
//! `params` (limit, filters, labels with null = any), health, and server-sent
//! events.

mod support;

use rstream_core::TunnelOptions;
use rstream_local_engine::LocalEngine;
use rstream_local_engine::raw::RawConnection;
use serde_json::{Value, json};
use support::*;

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn connect_http(engine: &LocalEngine) -> RawConnection {
    let conn = guard(RawConnection::connect_to(
        engine,
        engine.engine_addr(),
        &[b"h2", b"http/1.1"],
    ))
    .await
    .unwrap();
    assert_eq!(conn.alpn().as_deref(), Some(&b"http/1.1"[..]));
    conn
}

/// One GET; returns the status code and the JSON body.
async fn get(
    engine: &LocalEngine,
    path: &str,
    params: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut conn = connect_http(engine).await;
    let query = params.map_or(String::new(), |p| {
        format!("?params={}", encode(&p.to_string()))
    });
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "GET /api{path}{query} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    );
    conn.send_raw(request.as_bytes()).await.unwrap();
    let raw = guard(conn.read_to_end()).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn bearer_auth_and_health() {
    let engine = engine().await;
    assert_eq!(get(&engine, "/health/live", None, None).await.0, 401);
    assert_eq!(
        get(&engine, "/health/live", None, Some("tok_wrong"))
            .await
            .0,
        401
    );
    let (status, body) = get(&engine, "/health/live", None, Some(TOKEN)).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(get(&engine, "/nothing", None, Some(TOKEN)).await.0, 404);
}

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    let engine = engine().await;
    let mut conn = connect_http(&engine).await;
    for _ in 0..2 {
        let request = format!(
            "GET /api/health/ready HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        conn.send_raw(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with("{\"status\":\"ok\"}") {
            got.extend(guard(conn.read_some()).await.unwrap());
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn inventory_with_params() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let prod = guard(
        control.create_tunnel(
            TunnelOptions::http()
                .publish(true)
                .name("prod")
                .label("env", "prod"),
        ),
    )
    .await
    .unwrap();
    let _dev = guard(control.create_tunnel(TunnelOptions::new().name("dev").label("env", "dev")))
        .await
        .unwrap();
    let _plain = guard(control.create_tunnel(TunnelOptions::new().name("plain")))
        .await
        .unwrap();

    let (status, all) = get(&engine, "/tunnels", None, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod", "dev", "plain"]);
    let first = &all[0];
    assert_eq!(first["id"], json!(prod.id()));
    assert_eq!(first["status"], "online");
    assert_eq!(first["client_id"], json!(control.client_id()));
    assert_eq!(first["hostname"], "prod.localhost");
    assert_eq!(first["labels"], json!({"env": "prod"}));
    assert!(first["creation_date"].as_str().unwrap().ends_with('Z'));

    let any_env = json!({"filters": {"labels": {"env": null}}});
    let (_, found) = get(&engine, "/tunnels", Some(any_env), Some(TOKEN)).await;
    assert_eq!(found.as_array().unwrap().len(), 2);
    let dev_only = json!({"filters": {"labels": {"env": "dev"}}});
    let (_, found) = get(&engine, "/tunnels", Some(dev_only), Some(TOKEN)).await;
    assert_eq!(found[0]["name"], "dev");
    assert_eq!(found.as_array().unwrap().len(), 1);
    let published = json!({"filters": {"publish": true, "protocol": "http"}, "limit": 5});
    let (_, found) = get(&engine, "/tunnels", Some(published), Some(TOKEN)).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, found) = get(&engine, "/tunnels", Some(json!({"limit": 2})), Some(TOKEN)).await;
    assert_eq!(found.as_array().unwrap().len(), 2);

    let (status, one) = get(
        &engine,
        &format!("/tunnels/{}", prod.id()),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "prod");
    assert_eq!(
        get(&engine, "/tunnels/tun_nope", None, Some(TOKEN)).await.0,
        404
    );

    let (_, clients) = get(&engine, "/clients", None, Some(TOKEN)).await;
    let clients = clients.as_array().unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["id"], json!(control.client_id()));
    assert_eq!(clients[0]["agent"], "rstream-rust-runtime");
    assert!(clients[0].get("token").is_none(), "never the token");
    let by_agent = json!({"filters": {"agent": "someone-else"}});
    let (_, none) = get(&engine, "/clients", Some(by_agent), Some(TOKEN)).await;
    assert!(none.as_array().unwrap().is_empty());
}

/// Reads SSE events (the `data:` lines) until `count` have arrived.
async fn events(conn: &mut RawConnection, seen: &mut String, count: usize) -> Vec<Value> {
    loop {
        let events: Vec<Value> = seen
            .split("\n\n")
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect();
        if events.len() >= count {
            return events;
        }
        let more = guard(conn.read_some()).await.unwrap();
        assert!(!more.is_empty(), "the event stream ended");
        seen.push_str(&String::from_utf8_lossy(&more));
    }
}

async fn subscribe(engine: &LocalEngine, params: Option<Value>) -> (RawConnection, String) {
    let mut conn = connect_http(engine).await;
    let query = params.map_or(String::new(), |p| {
        format!("?params={}", encode(&p.to_string()))
    });
    let request = format!(
        "GET /api/sse{query} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    conn.send_raw(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    while !seen.contains("\r\n\r\n") {
        seen.push_str(&String::from_utf8_lossy(
            &guard(conn.read_some()).await.unwrap(),
        ));
    }
    let (head, rest) = seen.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    let rest = rest.to_owned();
    (conn, rest)
}

#[tokio::test]
async fn server_sent_events() {
    let engine = engine().await;
    let first = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let (mut conn, mut seen) = subscribe(&engine, None).await;
    let initial = &events(&mut conn, &mut seen, 1).await[0];
    assert_eq!(initial["type"], "state.initial");
    assert_eq!(
        initial["object"]["clients"][0]["id"],
        json!(first.client_id())
    );
    for key in [
        "id",
        "created_at",
        "user_id",
        "workspace_id",
        "project_id",
        "cluster_id",
    ] {
        assert!(initial[key].is_string(), "{key}");
    }

    let tunnel = guard(first.create_tunnel(TunnelOptions::new().name("watched")))
        .await
        .unwrap();
    guard(tunnel.close()).await.unwrap();
    let second = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    guard(second.close()).await.unwrap();
    let all = events(&mut conn, &mut seen, 5).await;
    let kinds: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "state.initial",
            "tunnel.created",
            "tunnel.deleted",
            "client.created",
            "client.deleted"
        ]
    );
    assert_eq!(all[1]["object"]["name"], "watched");
    assert_eq!(all[3]["object"]["id"], json!(second.client_id()));
}

#[tokio::test]
async fn server_sent_events_are_filtered() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let (mut conn, mut seen) = subscribe(
        &engine,
        Some(json!({"tunnels": {"labels": {"team": null}}})),
    )
    .await;
    let other = guard(control.create_tunnel(TunnelOptions::new().name("other")))
        .await
        .unwrap();
    let mine = guard(control.create_tunnel(TunnelOptions::new().name("mine").label("team", "a")))
        .await
        .unwrap();
    guard(other.close()).await.unwrap();
    guard(mine.close()).await.unwrap();
    let all = events(&mut conn, &mut seen, 3).await;
    let kinds: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["state.initial", "tunnel.created", "tunnel.deleted"]);
    assert!(all[1..].iter().all(|e| e["object"]["name"] == "mine"));
    assert_eq!(
        all[0]["object"]["clients"],
        json!([]),
        "clients were not asked for"
    );
}

/// Reads server frames (unmasked) until `count` text messages arrived;
/// returns them and any other frames' opcodes.
async fn ws_read(
    conn: &mut RawConnection,
    buf: &mut Vec<u8>,
    count: usize,
) -> (Vec<Value>, Vec<u8>) {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    loop {
        while buf.len() >= 2 {
            let (op, len7) = (buf[0] & 0x0f, (buf[1] & 0x7f) as usize);
            assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
            let (len, start) = match len7 {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                126 => break,
                127 => panic!("no event is that large"),
                n => (n, 2),
            };
            if buf.len() < start + len {
                break;
            }
            let payload: Vec<u8> = buf[start..start + len].to_vec();
            buf.drain(..start + len);
            if op == 1 {
                texts.push(serde_json::from_slice(&payload).unwrap());
            } else {
                others.push(op);
            }
        }
        if texts.len() >= count && (count > 0 || !others.is_empty()) {
            return (texts, others);
        }
        let more = guard(conn.read_some()).await.unwrap();
        assert!(!more.is_empty(), "the WebSocket ended");
        buf.extend(more);
    }
}

fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn websocket_events() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let mut conn = connect_http(&engine).await;
    let params = encode(&json!({"tunnels": {"name": "ws"}}).to_string());
    let request = format!(
        "GET /api/websocket?params={params} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    conn.send_raw(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        got.extend(guard(conn.read_some()).await.unwrap());
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let mut buf = got[head_end + 4..].to_vec();
    let (initial, _) = ws_read(&mut conn, &mut buf, 1).await;
    assert_eq!(initial[0]["type"], "state.initial");

    let _other = guard(control.create_tunnel(TunnelOptions::new().name("other")))
        .await
        .unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("ws")))
        .await
        .unwrap();
    guard(tunnel.close()).await.unwrap();
    let (events, _) = ws_read(&mut conn, &mut buf, 2).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tunnel.created", "tunnel.deleted"]);
    assert_eq!(events[0]["object"]["name"], "ws");

    conn.send_raw(&masked(0x9, b"hi")).await.unwrap();
    let (_, others) = ws_read(&mut conn, &mut buf, 0).await;
    assert_eq!(others, [0xA], "a pong");
    conn.send_raw(&masked(0x8, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    let (_, others) = ws_read(&mut conn, &mut buf, 0).await;
    assert_eq!(others, [0x8], "the close is answered");

    // Without the upgrade headers it is a bad request.
    let (status, _) = get(&engine, "/websocket", None, Some(TOKEN)).await;
    assert_eq!(status, 400);
}
