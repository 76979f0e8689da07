//! Every frame in `vectors/protocol-frames.json` (made by the official Python
//! SDK) decodes to the listed field values, and re-encodes to a frame that
//! decodes to the same message.

use std::net::Ipv6Addr;

use bytes::BytesMut;
use rstream_core::proto::{self, *};
use serde_json::Value;

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn b(v: &Value) -> Option<bool> {
    v.as_bool()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(s).collect())
        .unwrap_or_default()
}

fn error(v: &Value) -> proto::Error {
    proto::Error {
        code: v["code"].as_i64().unwrap() as i32,
        message: s(&v["message"]),
    }
}

fn client_details(v: &Value) -> ClientDetails {
    ClientDetails {
        agent: s(&v["agent"]),
        channel: s(&v["channel"]),
        version: s(&v["version"]),
        os: s(&v["os"]),
        arch: s(&v["arch"]),
        token: s(&v["token"]),
        protocol_version: s(&v["protocol_version"]),
    }
}

fn liveness(v: &Value) -> Option<ControlChannelLiveness> {
    v.as_object().map(|_| ControlChannelLiveness {
        heartbeat_interval_ms: v["heartbeat_interval_ms"].as_u64().unwrap_or(0) as u32,
        heartbeat_timeout_ms: v["heartbeat_timeout_ms"].as_u64().unwrap_or(0) as u32,
    })
}

fn properties(v: &Value) -> TunnelProperties {
    TunnelProperties {
        id: s(&v["id"]),
        creation_date: v["creation_date"]
            .as_object()
            .map(|_| prost_types::Timestamp {
                seconds: v["creation_date"]["seconds"].as_i64().unwrap(),
                nanos: v["creation_date"]["nanos"].as_i64().unwrap() as i32,
            }),
        name: s(&v["name"]),
        r#type: s(&v["type"]),
        publish: b(&v["publish"]),
        protocol: s(&v["protocol"]),
        labels: v["labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, x)| (k.clone(), s(x).unwrap())).collect())
            .unwrap_or_default(),
        geoip: strings(&v["geoip"]),
        trusted_ips: strings(&v["trusted_ips"]),
        http_version: s(&v["http_version"]),
        token_auth: b(&v["token_auth"]),
        rstream_auth: b(&v["rstream_auth"]),
        hostname: s(&v["hostname"]),
        port: v["port"].as_u64().map(|p| p as u32),
        ..Default::default()
    }
}

fn source_ip(v: &Value) -> Option<IpAddress> {
    if let Some(n) = v["v4_u32"].as_u64() {
        let dotted: std::net::Ipv4Addr = v["v4_dotted"].as_str().unwrap().parse().unwrap();
        assert_eq!(u32::from(dotted) as u64, n, "the vector's v4 forms agree");
        return Some(IpAddress {
            addr: Some(ip_address::Addr::V4(n as u32)),
        });
    }
    let v6: Ipv6Addr = v["v6"].as_str()?.parse().unwrap();
    Some(IpAddress {
        addr: Some(ip_address::Addr::V6(v6.octets().to_vec())),
    })
}

/// Builds the message a case describes, from the case's own field values.
fn expected(name: &str, f: &Value) -> Message {
    match name {
        "open_control_channel_req" => OpenControlChannelReq {
            client_details: Some(client_details(&f["client_details"])),
            liveness: liveness(&f["liveness"]),
        }
        .into(),
        "open_control_channel_rsp_ok" => OpenControlChannelRsp {
            payload: Some(open_control_channel_rsp::Payload::Ok(
                open_control_channel_rsp::Ok {
                    client_id: s(&f["ok"]["client_id"]).unwrap(),
                    server_details: Some(ServerDetails {
                        agent: s(&f["ok"]["server_details"]["agent"]),
                        version: s(&f["ok"]["server_details"]["version"]),
                        region: s(&f["ok"]["server_details"]["region"]),
                        ..Default::default()
                    }),
                    liveness: liveness(&f["ok"]["liveness"]),
                },
            )),
        }
        .into(),
        "open_control_channel_rsp_error" => OpenControlChannelRsp {
            payload: Some(open_control_channel_rsp::Payload::Error(error(&f["error"]))),
        }
        .into(),
        "close_control_channel_req" => CloseControlChannelReq {}.into(),
        "close_control_channel_rsp" => CloseControlChannelRsp {}.into(),
        "open_tunnel_req_http" | "open_tunnel_req_tcp" => OpenTunnelReq {
            request_id: s(&f["request_id"]).unwrap(),
            tunnel_properties: Some(properties(&f["tunnel_properties"])),
        }
        .into(),
        "open_tunnel_rsp_ok" => OpenTunnelRsp {
            request_id: s(&f["request_id"]).unwrap(),
            payload: Some(open_tunnel_rsp::Payload::TunnelProperties(properties(
                &f["tunnel_properties"],
            ))),
        }
        .into(),
        "open_tunnel_rsp_error" => OpenTunnelRsp {
            request_id: s(&f["request_id"]).unwrap(),
            payload: Some(open_tunnel_rsp::Payload::Error(error(&f["error"]))),
        }
        .into(),
        "close_tunnel_req" => CloseTunnelReq {
            tunnel_id: s(&f["tunnel_id"]).unwrap(),
        }
        .into(),
        "close_tunnel_rsp" => CloseTunnelRsp {
            tunnel_id: s(&f["tunnel_id"]).unwrap(),
        }
        .into(),
        "proxy_conn_req_v4" | "proxy_conn_req_v6_redirect" => ProxyConnReq {
            tunnel_id: s(&f["tunnel_id"]).unwrap(),
            stream_id: s(&f["stream_id"]).unwrap(),
            secret: s(&f["secret"]),
            source_ip: source_ip(&f["source_ip"]),
            proxy_endpoint: s(&f["proxy_endpoint"]),
        }
        .into(),
        "proxy_conn_rsp_ok" | "proxy_conn_rsp_error" => ProxyConnRsp {
            stream_id: s(&f["stream_id"]).unwrap(),
            error: f["error"].as_object().map(|_| error(&f["error"])),
        }
        .into(),
        "proxy_req" => ProxyReq {
            client_details: Some(client_details(&f["client_details"])),
            stream_id: s(&f["stream_id"]).unwrap(),
            zero_rtt: b(&f["zero_rtt"]),
        }
        .into(),
        "proxy_rsp_ok" => ProxyRsp { error: None }.into(),
        "stream_req" => StreamReq {
            client_details: Some(client_details(&f["client_details"])),
            tunnel_id_name: s(&f["tunnel_id_name"]).unwrap(),
            zero_rtt: b(&f["zero_rtt"]),
            datagram_channel: b(&f["datagram_channel"]),
        }
        .into(),
        "stream_rsp_ok" => StreamRsp {
            payload: Some(stream_rsp::Payload::StreamId(s(&f["stream_id"]).unwrap())),
        }
        .into(),
        "stream_rsp_error" => StreamRsp {
            payload: Some(stream_rsp::Payload::Error(error(&f["error"]))),
        }
        .into(),
        "heartbeat_sequence" | "heartbeat_ack" | "heartbeat_empty" => Heartbeat {
            sequence: f["sequence"].as_u64().unwrap_or(0),
            acknowledgement: f["acknowledgement"].as_u64().unwrap_or(0),
        }
        .into(),
        "server_message" => ServerMessage {
            message: s(&f["message"]).unwrap(),
        }
        .into(),
        other => panic!("vector case {other} has no expectation: add one"),
    }
}

#[test]
fn every_vector_decodes_to_its_fields_and_round_trips() {
    let text = include_str!("vectors/protocol-frames.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    assert_eq!(doc["protocol_version"], proto::PROTOCOL_VERSION);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "the vectors file lists every message");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let frame = hex::decode(case["frame_hex"].as_str().unwrap()).unwrap();
        let mut buf = BytesMut::from(&frame[..]);
        let decoded = proto::decode_frame(&mut buf)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: incomplete frame"));
        assert!(buf.is_empty(), "{name}: the frame is consumed exactly");
        assert_eq!(decoded, expected(name, &case["fields"]), "{name}");

        let reencoded = proto::frame_bytes(&decoded).unwrap();
        let has_map = case["fields"]
            .pointer("/tunnel_properties/labels")
            .and_then(Value::as_object)
            .is_some_and(|m| m.len() > 1);
        if !has_map {
            // prost and the Python encoder both write fields in number order.
            assert_eq!(&reencoded[..], &frame[..], "{name}: byte-identical");
        }
        let mut again = reencoded;
        assert_eq!(
            proto::decode_frame(&mut again).unwrap().as_ref(),
            Some(&decoded),
            "{name}: round trip"
        );
    }
}

#[test]
fn v4_source_ip_is_the_big_endian_integer() {
    let text = include_str!("vectors/protocol-frames.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "proxy_conn_req_v4")
        .unwrap();
    let frame = hex::decode(case["frame_hex"].as_str().unwrap()).unwrap();
    let msg = proto::decode_frame(&mut BytesMut::from(&frame[..]))
        .unwrap()
        .unwrap();
    let Some(message::Payload::ProxyConnReq(req)) = msg.payload else {
        panic!("not a proxy_conn_req");
    };
    let Some(ip_address::Addr::V4(n)) = req.source_ip.unwrap().addr else {
        panic!("not v4");
    };
    assert_eq!(std::net::Ipv4Addr::from(n).to_string(), "203.0.113.7");
}
