//! Vectors: the key pair, its public point and the Python-signed token were
//! made with Python's `cryptography`; the expected payloads were built by
//! hand in the key order of the JavaScript SDK's schemas and serialised by
//! Node's `JSON.stringify`.

use std::sync::LazyLock;

use rstream_e2e::key_vector;

use super::*;

static SECRET: LazyLock<String> = LazyLock::new(|| key_vector("signing_key", "client_secret"));
static PUBLIC: LazyLock<String> = LazyLock::new(|| key_vector("signing_key", "public_key_sec1"));

/// `{"alg":"ES512","typ":"JWT"}`, base64url.
const HEADER_B64: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9";
/// A token signed by Python with `SECRET` (payload `{"clientId":"python","type":"app"}`).
const PYTHON_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJjbGllbnRJZCI6InB5dGhvbiIsInR5cGUiOiJhcHA\
    ifQ.AEXeQprOt8siWtbzGaGEVb-4BeE2fAvYb_e1c5FaTsQ3e0Co4_Ag-KkI4ncNVP9h7WyiYgPtQ6ok\
    QBkpGzDoWdWLAJFgjSgC66tylY8XMhKfeBE2ZIoJx2OJ-lMnqOk-ncsDTxDsI9d1b7LGbISG-M33cNFL\
    bTqYpxilk0asm_hke7No";
/// A P-256 key, PKCS#8 DER, hex: not a P-521 key.
const P256_SECRET: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104201d9f1b3f\
    1a9dd086eb1064d05965eff59294768bc82c80b6ef894736b02e67c0a144034200042a381c27f6af\
    d763ed291d0daf41d32ebfe57b59e3ad63eb96bb141f383fa958048ad1ce82a57e80a1a8364d7a56\
    3400790d971e13115a61a58f1abcc8222564";

const ISSUED_AT: u64 = 1_700_000_000;

const EXPECTED_A: &str = r#"{"metadata":{},"permissions":null,"resources":{"tunnels":{"projects":["prj_123"],"scopes":{"tunnels":{"connect":true}}}},"clientId":"client-1","exp":1700000300,"iat":1700000000,"type":"app"}"#;
const EXPECTED_B: &str = r#"{"metadata":{"engine":"engine.example:443\u0001é\"/"},"permissions":["tunnels.read"],"resources":{"tunnels":{"AND":[{"workspaces":["ws_1"]},{"OR":[{"scopes":{"tunnels":{"create":{"filters":{"name":{"exact":"n"},"protocol":"http","port":443}},"list":{"filters":{"name":{"regex":"^cam-"}},"select":{"status":true,"name":true}}}}},{"scopes":{"tunnels":{"connect":{"filters":{"status":"online","publish":true,"labels":{"room":{"oneof":["a","b"]}}},"params":{"path":"/x"}}}}}]}]}},"clientId":"client-1","exp":1700000060,"iat":1700000000,"type":"app"}"#;
const EXPECTED_C: &str = r#"{"metadata":{},"permissions":null,"resources":{"tunnels":{"scopes":{"tunnels":{"create":false,"connect":true,"list":true}}}},"clientId":"client-1","exp":1700003600,"iat":1700000000,"type":"app"}"#;
const EXPECTED_D: &str = r#"{"metadata":{},"permissions":null,"resources":{"tunnels":{"OR":[{"workspaces":["ws_9"],"scopes":{"tunnels":{"list":true}}},{"projects":["p2"],"scopes":{"tunnels":{"connect":true}}}]}},"clientId":"client-1","exp":1700000001,"iat":1700000000,"type":"app"}"#;

fn credentials() -> AppCredentials {
    AppCredentials::new(" client-1 ", format!("{}\n", SECRET.as_str())).expect("credentials")
}

fn public() -> Vec<u8> {
    hex::decode(PUBLIC.as_str()).expect("hex")
}

/// Mints `request`, checks the header and the signature with the public key
/// Python derived, and returns the payload text.
fn mint_payload(request: &TokenRequest) -> String {
    let token = credentials().mint(request, ISSUED_AT).expect("mint");
    let token = token.expose();
    assert_eq!(token.split('.').next(), Some(HEADER_B64));
    let signature = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().expect("signature"))
        .expect("base64url");
    assert_eq!(signature.len(), 132, "JOSE r || s of P-521");
    let payload = verify_es512(token, &public()).expect("verifies");
    String::from_utf8(payload).expect("utf-8")
}

#[test]
fn python_signed_token_verifies_so_the_signature_format_is_jose() {
    let payload = verify_es512(PYTHON_TOKEN, &public()).expect("verifies");
    assert_eq!(payload, br#"{"clientId":"python","type":"app"}"#);
    // One flipped bit in the signature, or a payload swapped, is refused.
    let mut tampered = PYTHON_TOKEN.to_owned();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert!(verify_es512(&tampered, &public()).unwrap_err().is_invalid());
    let (head, rest) = PYTHON_TOKEN.split_once('.').expect("jwt");
    let signature = rest.split_once('.').expect("jwt").1;
    let swapped = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode("{}"));
    assert!(verify_es512(&swapped, &public()).is_err());
}

#[test]
fn public_key_matches_the_one_python_derived() {
    assert_eq!(credentials().public_key_sec1(), public());
    assert_eq!(credentials().client_id(), "client-1");
}

#[test]
fn scope_only_leaf_is_bound_to_the_project() {
    let request = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
        TunnelScopes::new().connect(Scope::Allowed(true)),
    )))
    .project(" prj_123 ")
    .expires_in(300);
    assert_eq!(mint_payload(&request), EXPECTED_A);
}

#[test]
fn nested_boundary_with_filters_serialises_like_javascript() {
    let mut create = TunnelFilter::new();
    create.name = Some(StringFilter::Exact { exact: "n".into() });
    create.protocol = Some(TunnelProtocol::Http);
    create.port = Some(443);
    let mut list = TunnelFilter::new();
    list.name = Some(StringFilter::regex("^cam-"));
    let mut select = TunnelSelect::new();
    select.name = Some(true);
    select.status = Some(true);
    let mut connect = TunnelFilter::new();
    connect.labels = Some([("room".to_owned(), StringFilter::one_of(["a", "b"]))].into());
    connect.publish = Some(true);
    connect.status = Some(TunnelStatus::Online);
    let resources = TunnelResource::and([
        TunnelResource::only_workspaces([" ws_1"]),
        TunnelResource::or([
            TunnelResource::scopes(
                TunnelScopes::new()
                    .list(Scope::Where(ListRules::filters(list).select(select)))
                    .create(Scope::Where(CreateRules::filters(create))),
            ),
            TunnelResource::scopes(
                TunnelScopes::new().connect(Scope::Where(
                    ConnectRules::filters(connect)
                        .params(ConnectParams::new().path(StringFilter::eq("/x"))),
                )),
            ),
        ]),
    ]);
    // No project binding needed: the AND's workspace narrows both branches.
    let request = TokenRequest::new(TokenResources::tunnels(resources))
        .engine("engine.example:443\u{1}é\"/")
        .permissions([" tunnels.read "]);
    assert_eq!(mint_payload(&request), EXPECTED_B);
}

#[test]
fn explicit_opt_out_leaves_scopes_unbound_and_bounds_are_inclusive() {
    let scopes = TunnelScopes::all().create(Scope::Allowed(false));
    let request = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(scopes)))
        .unscoped()
        .expires_in(3600);
    assert_eq!(mint_payload(&request), EXPECTED_C);
}

#[test]
fn only_unbound_branches_take_the_project() {
    let resources = TunnelResource::or([
        TunnelResource::workspaces(["ws_9"], TunnelScopes::new().list(Scope::Allowed(true))),
        TunnelResource::scopes(TunnelScopes::new().connect(Scope::Allowed(true))),
    ]);
    let request = TokenRequest::new(TokenResources::tunnels(resources))
        .project("p2")
        .expires_in(1);
    assert_eq!(mint_payload(&request), EXPECTED_D);
}

#[test]
fn default_lifetime_is_sixty_seconds() {
    let request = TokenRequest::new(TokenResources::tunnels(TunnelResource::projects(
        ["p"],
        TunnelScopes::all(),
    )));
    let payload: serde_json::Value = serde_json::from_str(&mint_payload(&request)).expect("json");
    assert_eq!(payload["exp"], ISSUED_AT + 60);
    assert_eq!(payload["iat"], ISSUED_AT);
}

#[test]
fn resources_parse_from_the_javascript_shape() {
    let json = EXPECTED_B;
    let claims: serde_json::Value = serde_json::from_str(json).expect("json");
    let resources: TokenResources =
        serde_json::from_value(claims["resources"].clone()).expect("parses");
    assert_eq!(
        serde_json::to_value(&resources).expect("json"),
        claims["resources"]
    );
    for bad in [
        r#"{"tunnels":{"projects":["p"],"scopes":{"tunnels":{"conect":true}}}}"#,
        r#"{"tunnels":{"AND":[],"projects":["p"]}}"#,
        r#"{"tunnels":{"projects":["p"],"scopes":{"tunnels":{"list":{"filters":{"nme":"x"}}}}}}"#,
        r#"{"tunnels":{"projects":["p"],"scopes":{"tunnels":{"list":{"filters":{"status":"up"}}}}}}"#,
        r#"{"tunnels":{"projects":["p"],"scopes":{"tunnels":{"list":{"filters":{"name":{"exact":"a","regex":"b"}}}}}}}"#,
        r#"{"tunnels":{"projects":["p"],"scopes":{}}}"#,
        r#"{}"#,
    ] {
        assert!(
            serde_json::from_str::<TokenResources>(bad).is_err(),
            "accepted {bad}"
        );
    }
}

fn invalid(request: TokenRequest) -> Error {
    let error = credentials()
        .mint(&request, ISSUED_AT)
        .expect_err("refused");
    assert!(error.is_invalid(), "{error}");
    error
}

#[test]
fn invalid_boundaries_are_refused_before_signing() {
    let connect = || TunnelScopes::new().connect(Scope::Allowed(true));
    let req = |r: TunnelResource| TokenRequest::new(TokenResources::tunnels(r)).project("p");
    // Lifetime bounds.
    invalid(req(TunnelResource::scopes(connect())).expires_in(0));
    invalid(req(TunnelResource::scopes(connect())).expires_in(3601));
    // Scope-only without a binding, or with an empty one.
    invalid(TokenRequest::new(TokenResources::tunnels(
        TunnelResource::scopes(connect()),
    )));
    invalid(
        TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(connect()))).project("  "),
    );
    // Empty AND / OR, empty id lists, blank ids, both kinds of target.
    invalid(req(TunnelResource::and([])));
    invalid(req(TunnelResource::or([])));
    invalid(req(TunnelResource::projects(
        Vec::<String>::new(),
        connect(),
    )));
    invalid(req(TunnelResource::projects([" "], connect())));
    invalid(req(TunnelResource::Leaf(ResourceLeaf {
        workspaces: Some(vec!["w".into()]),
        projects: Some(vec!["p".into()]),
        scopes: Some(ResourceScopes { tunnels: connect() }),
    })));
    // A leaf with neither target nor scopes; scopes with no action.
    invalid(req(TunnelResource::Leaf(ResourceLeaf::default())));
    invalid(req(TunnelResource::scopes(TunnelScopes::new())));
    // A branch that grants nothing: targets only, in an OR or an AND.
    invalid(req(TunnelResource::only_projects(["p"])));
    invalid(req(TunnelResource::or([
        TunnelResource::projects(["p"], connect()),
        TunnelResource::only_workspaces(["w"]),
    ])));
    invalid(req(TunnelResource::and([
        TunnelResource::only_projects(["p"]),
        TunnelResource::only_workspaces(["w"]),
    ])));
    // A create filter on a property only the engine sets.
    let mut filter = TunnelFilter::new();
    filter.project_id = Some(StringFilter::eq("other"));
    let error = invalid(req(TunnelResource::scopes(
        TunnelScopes::new().create(Scope::Where(CreateRules::filters(filter))),
    )));
    assert!(error.to_string().contains("project_id"), "{error}");
    // A port of 0, an empty `oneof`, a blank permission.
    let mut filter = TunnelFilter::new();
    filter.port = Some(0);
    invalid(req(TunnelResource::scopes(
        TunnelScopes::new().list(Scope::Where(ListRules::filters(filter))),
    )));
    let mut filter = TunnelFilter::new();
    filter.host = Some(StringFilter::one_of(Vec::<String>::new()));
    invalid(req(TunnelResource::scopes(
        TunnelScopes::new().connect(Scope::Where(ConnectRules::filters(filter))),
    )));
    invalid(req(TunnelResource::scopes(connect())).permissions(["ok", " "]));
    // Nesting past the bound.
    let mut deep = TunnelResource::scopes(connect());
    for _ in 0..=MAX_RESOURCE_DEPTH {
        deep = TunnelResource::and([deep]);
    }
    invalid(req(deep));
}

#[test]
fn an_and_with_a_target_needs_no_binding_but_a_bare_and_does() {
    let connect = || TunnelScopes::new().connect(Scope::Allowed(true));
    let narrowed = TunnelResource::and([
        TunnelResource::only_projects(["p"]),
        TunnelResource::scopes(connect()),
    ]);
    let resolved = TokenRequest::new(TokenResources::tunnels(narrowed))
        .resolved_resources()
        .expect("narrowed by its sibling");
    assert_eq!(
        serde_json::to_string(&resolved).expect("json"),
        r#"{"tunnels":{"AND":[{"projects":["p"]},{"scopes":{"tunnels":{"connect":true}}}]}}"#
    );
    let bare = TunnelResource::and([TunnelResource::scopes(connect())]);
    assert!(
        TokenRequest::new(TokenResources::tunnels(bare))
            .resolved_resources()
            .unwrap_err()
            .is_invalid()
    );
}

#[test]
fn bad_secrets_are_refused_without_being_echoed() {
    for secret in [
        "",
        "zz",
        "00",
        P256_SECRET,
        &SECRET.as_str()[..SECRET.len() - 2],
    ] {
        let error = AppCredentials::new("id", secret).expect_err("refused");
        assert!(error.is_invalid(), "{error}");
        if secret.len() > 4 {
            assert!(!error.to_string().contains(&secret[..16]), "{error}");
        }
    }
    assert!(
        AppCredentials::new(" ", SECRET.as_str())
            .unwrap_err()
            .is_invalid()
    );
}

#[test]
fn debug_hides_the_secret() {
    let text = format!("{:?}", credentials());
    assert!(text.contains("client-1"), "{text}");
    assert!(!text.contains(&SECRET.as_str()[..32]), "{text}");
    assert!(
        !text.contains(&SECRET.as_str()[SECRET.len() - 32..]),
        "{text}"
    );
}

#[test]
fn malformed_tokens_are_refused() {
    for token in [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "!.!.!",
        &format!("{HEADER_B64}.e30.AAAA"),
    ] {
        assert!(
            verify_es512(token, &public()).unwrap_err().is_invalid(),
            "{token}"
        );
    }
    assert!(verify_es512(PYTHON_TOKEN, &[4, 1, 2]).is_err());
}

#[test]
fn api_token_carries_only_the_base_claims() {
    let token = credentials().mint_api_token(60, ISSUED_AT).expect("mint");
    let payload = verify_es512(token.expose(), &public()).expect("verifies");
    assert_eq!(
        payload,
        br#"{"permissions":null,"clientId":"client-1","exp":1700000060,"iat":1700000000,"type":"app"}"#
    );
    assert!(
        credentials()
            .mint_api_token(0, ISSUED_AT)
            .unwrap_err()
            .is_invalid()
    );
    assert!(
        credentials()
            .mint_api_token(3601, ISSUED_AT)
            .unwrap_err()
            .is_invalid()
    );
}

#[tokio::test]
async fn a_minting_provider_signs_a_bounded_token_per_call() {
    let request = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
        TunnelScopes::new().connect(Scope::Allowed(true)),
    )))
    .project("prj_123")
    .expires_in(120);
    let provider = TokenProvider::minting(credentials(), request).expect("mintable");
    for _ in 0..2 {
        let token = provider.token().await.expect("a token");
        let payload = verify_es512(token.expose(), &public()).expect("verifies");
        let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims["clientId"], "client-1");
        assert_eq!(claims["resources"]["tunnels"]["projects"][0], "prj_123");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 120);
    }
    assert!(!format!("{provider:?}").contains(SECRET.as_str()));

    // A request that cannot be minted is refused when the provider is made.
    let unbound = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
        TunnelScopes::new(),
    )))
    .expires_in(7200);
    let error = TokenProvider::minting(credentials(), unbound).unwrap_err();
    assert!(error.is_invalid(), "{error}");
}

#[tokio::test]
async fn fixed_and_callback_providers() {
    let fixed = TokenProvider::fixed("tok_same");
    assert_eq!(fixed.token().await.unwrap().expose(), "tok_same");
    assert!(!format!("{fixed:?}").contains("tok_same"));
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = counter.clone();
    let callback = TokenProvider::new(move || {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<_, Error>(format!("tok_{n}")) }
    });
    assert_eq!(callback.token().await.unwrap().expose(), "tok_0");
    assert_eq!(callback.clone().token().await.unwrap().expose(), "tok_1");
}

#[test]
fn credentials_from_the_environment() {
    let read = |vars: &[(&str, &str)]| {
        AppCredentials::from_env_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    assert!(read(&[]).unwrap().is_none());
    assert!(
        read(&[(ENV_CLIENT_ID, " "), (ENV_CLIENT_SECRET, "")])
            .unwrap()
            .is_none()
    );
    let found = read(&[
        (ENV_CLIENT_ID, "client-1"),
        (ENV_CLIENT_SECRET, SECRET.as_str()),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(found.client_id(), "client-1");
    assert_eq!(found.public_key_sec1(), public());

    let half = read(&[(ENV_CLIENT_ID, "client-1")]).unwrap_err();
    assert!(half.to_string().contains(ENV_CLIENT_SECRET), "{half}");
    let half = read(&[(ENV_CLIENT_SECRET, SECRET.as_str())]).unwrap_err();
    assert!(half.to_string().contains(ENV_CLIENT_ID), "{half}");
    assert!(!half.to_string().contains(&SECRET.as_str()[..40]), "{half}");
    let bad = read(&[(ENV_CLIENT_ID, "c"), (ENV_CLIENT_SECRET, "zz-not-hex")]).unwrap_err();
    assert!(bad.is_invalid(), "{bad}");
    assert!(!bad.to_string().contains("zz-not-hex"), "{bad}");
}
