//! User story: "my actix-web service wants to hear from rstream when tunnels
//! and clients come and go. It must refuse anything not signed with my
//! webhook's secret, and handle each event once even when rstream retries a
//! delivery."
//!
//! Run it with the secret of your webhook:
//!
//! ```text
//! RSTREAM_WEBHOOK_SECRET=whsec_... PORT=8080 cargo run -p rstream-examples --bin actix-webhook-receiver
//! ```
//!
//! Without `RSTREAM_WEBHOOK_SECRET` it generates a secret and prints it. It
//! listens on 127.0.0.1 (publish it with an rstream tunnel) and prints a
//! `curl` command that sends a signed sample event; send it twice to see the
//! second delivery acknowledged as a duplicate.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, post, web};
use rstream_webhooks::actix::VerifiedEvent;
use rstream_webhooks::{
    Delivery, EventType, Secret, Verifier, WebhookEvent, build_headers, generate_secret,
};

/// Event ids already processed, oldest forgotten first.
struct SeenEvents {
    ids: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl SeenEvents {
    fn new(capacity: usize) -> Self {
        SeenEvents {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Records `id`; false when it was already there.
    fn first_time(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        true
    }
}

/// Handles a delivery that `VerifiedEvent` checked against `web::Data<Verifier>`.
#[post("/webhooks")]
async fn receive(
    seen: web::Data<Mutex<SeenEvents>>,
    VerifiedEvent(event): VerifiedEvent,
) -> HttpResponse {
    // Mark before processing, so two concurrent retries cannot both run.
    let first = seen.lock().expect("lock").first_time(&event.id);
    if !first {
        println!("duplicate delivery of {}, ignored", event.id);
        return HttpResponse::Ok().body(format!("duplicate {}, already processed\n", event.id));
    }
    process(&event);
    HttpResponse::Ok().body(format!("processed {}\n", event.id))
}

fn process(event: &WebhookEvent) {
    let object_id = event
        .object
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    match event.event_type {
        EventType::TunnelCreated => println!("tunnel {object_id} created ({})", event.id),
        EventType::TunnelDeleted => println!("tunnel {object_id} deleted ({})", event.id),
        EventType::ClientCreated => println!("client {object_id} connected ({})", event.id),
        EventType::ClientDeleted => println!("client {object_id} gone ({})", event.id),
        other => println!("{other} {object_id} ({})", event.id),
    }
}

/// A `curl` command delivering a signed sample event, valid for 5 minutes.
fn sample_curl(secret: &Secret, port: u16) -> String {
    let body = r#"{"id":"evt_sample","type":"client.created","object":{"id":"cli_sample"}}"#;
    let delivery = Delivery {
        event_id: "evt_sample",
        event_type: EventType::ClientCreated,
        webhook_id: "whk_sample",
        delivery_id: "dlv_sample",
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let headers = build_headers(body.as_bytes(), secret, &delivery, now).expect("sample headers");
    let mut curl = format!("curl -i http://127.0.0.1:{port}/webhooks");
    for (name, value) in headers {
        curl.push_str(&format!(" -H '{name}: {value}'"));
    }
    curl.push_str(&format!(" --data-binary '{body}'"));
    curl
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let secret = match std::env::var("RSTREAM_WEBHOOK_SECRET") {
        Ok(secret) if !secret.trim().is_empty() => Secret::new(secret),
        _ => {
            let secret = generate_secret();
            println!("RSTREAM_WEBHOOK_SECRET is not set; generated one for this run:");
            println!("  {}", secret.expose());
            secret
        }
    };
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "PORT must be a port number",
            )
        })?,
        Err(_) => 8080,
    };

    // Shared by every worker: one verifier, one record of processed events.
    let verifier = web::Data::new(Verifier::new(secret.clone()));
    let seen = web::Data::new(Mutex::new(SeenEvents::new(10_000)));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(seen.clone())
            .service(receive)
    })
    .workers(2)
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}/webhooks");
    }
    println!("try: {}", sample_curl(&secret, port));
    server.run().await
}
