//! [`check_url_token`]: the rules a token must meet to travel in a URL
//! (`rstream.token`), as the JavaScript SDK's watch checks them:
//! short-lived, not a personal access token, read-only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::Error;

/// The longest lifetime of a query token, in seconds.
const MAX_LIFETIME: u64 = 3600;
/// How far ahead of this clock a token may have been issued, in seconds.
const ISSUED_AT_SKEW: u64 = 300;
/// The one permission a query token may carry.
const READ_ONLY: &str = "tunnels.resources.read-only";

/// Checks that `token` may travel in a URL at `now` (Unix seconds): a JWT,
/// not a personal access token (`type: pat`), unexpired, issued at most
/// 300 s ahead of `now`, living at most 3600 s; permissions, if any, only
/// `tunnels.resources.read-only`; tunnel resources granting `list` and
/// neither `create` nor `connect` (in every branch of an `OR`, in no
/// branch of an `AND`). The signature is not checked: that is the
/// engine's part.
///
/// # Errors
///
/// [`Error::Invalid`] naming the broken rule; it never repeats the token.
pub fn check_url_token(token: &str, now: u64) -> Result<(), Error> {
    let refuse = |why: &str| {
        Error::invalid(format!(
            "the watch token cannot travel in the URL: {why}; use a short-lived, list-only \
             token, or send it as a header (query_token off)"
        ))
    };
    let claims = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok())
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .filter(Value::is_object)
        .ok_or_else(|| refuse("it is not a JWT"))?;
    if claims["type"] == "pat" {
        return Err(refuse("it is a personal access token"));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(refuse("it has no integer iat and exp"));
    };
    if exp <= iat || exp - iat > MAX_LIFETIME || exp > now + MAX_LIFETIME {
        return Err(refuse(
            "its lifetime is not bounded to at most 3600 seconds",
        ));
    }
    if exp <= now {
        return Err(refuse("it has expired"));
    }
    if iat > now + ISSUED_AT_SKEW {
        return Err(refuse("it was issued more than 300 seconds in the future"));
    }
    if let Some(permissions) = claims["permissions"].as_array() {
        if permissions.iter().any(|p| p.as_str() != Some(READ_ONLY)) {
            return Err(refuse(
                "it carries permissions beyond tunnels.resources.read-only",
            ));
        }
    }
    let tunnels = &claims["resources"]["tunnels"];
    if !tunnels.is_object() || !list_only(tunnels) {
        return Err(refuse(
            "its resources do not grant listing tunnels only (no create, no connect)",
        ));
    }
    Ok(())
}

/// Whether a resource node grants `list` and neither `create` nor
/// `connect`: every branch of an `OR`; no branch of an `AND` granting more,
/// and one of them granting `list`.
fn list_only(node: &Value) -> bool {
    if let Some(branches) = node.get("OR").and_then(Value::as_array) {
        return !branches.is_empty() && branches.iter().all(list_only);
    }
    if let Some(branches) = node.get("AND").and_then(Value::as_array) {
        return branches.iter().all(|b| !grants_more(b)) && branches.iter().any(list_only);
    }
    let scopes = &node["scopes"]["tunnels"];
    granted(&scopes["list"]) && !grants_more(node)
}

/// Whether a node (or any node below it) grants `create` or `connect`.
fn grants_more(node: &Value) -> bool {
    ["AND", "OR"]
        .iter()
        .filter_map(|key| node.get(key).and_then(Value::as_array))
        .flatten()
        .any(grants_more)
        || ["create", "connect"]
            .iter()
            .any(|scope| granted(&node["scopes"]["tunnels"][scope]))
}

/// A scope is granted by `true` or by rules (an object).
fn granted(scope: &Value) -> bool {
    scope.as_bool().unwrap_or(false) || scope.is_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn jwt(claims: &Value) -> String {
        format!(
            "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn list_only_claims() -> Value {
        json!({
            "type": "app", "iat": NOW, "exp": NOW + 600,
            "resources": {"tunnels": {"projects": ["p"], "scopes": {"tunnels": {"list": true}}}}
        })
    }

    fn with(change: impl FnOnce(&mut Value)) -> Result<(), Error> {
        let mut claims = list_only_claims();
        change(&mut claims);
        check_url_token(&jwt(&claims), NOW)
    }

    #[test]
    fn a_short_lived_list_only_token_passes() {
        check_url_token(&jwt(&list_only_claims()), NOW).unwrap();
        with(|c| c["permissions"] = json!([READ_ONLY])).unwrap();
        with(|c| c["iat"] = json!(NOW + 300)).unwrap();
        with(|c| {
            c["resources"]["tunnels"] = json!({"OR": [
                {"projects": ["a"], "scopes": {"tunnels": {"list": {"filters": {"name": {"exact": "x"}}}}}},
                {"AND": [{"workspaces": ["w"]}, {"scopes": {"tunnels": {"list": true, "create": false}}}]}
            ]})
        })
        .unwrap();
    }

    #[test]
    fn tokens_that_must_not_travel_in_a_url_are_refused() {
        let refused = |result: Result<(), Error>, why: &str| {
            let error = result.expect_err(why);
            assert!(error.is_invalid(), "{error}");
            assert!(error.to_string().contains(why), "{error}");
        };
        refused(check_url_token("tok_opaque", NOW), "not a JWT");
        refused(check_url_token("a.b", NOW), "not a JWT");
        refused(with(|c| c["type"] = json!("pat")), "personal access token");
        refused(with(|c| c["exp"] = json!(null)), "no integer iat and exp");
        refused(with(|c| c["exp"] = json!(NOW + 3601)), "3600 seconds");
        refused(
            with(|c| {
                c["iat"] = json!(NOW - 10);
                c["exp"] = json!(NOW + 3595);
            }),
            "3600 seconds",
        );
        refused(
            with(|c| {
                c["iat"] = json!(NOW - 600);
                c["exp"] = json!(NOW);
            }),
            "expired",
        );
        refused(
            with(|c| {
                c["iat"] = json!(NOW + 301);
                c["exp"] = json!(NOW + 900);
            }),
            "future",
        );
        refused(
            with(|c| c["permissions"] = json!(["tunnels.write"])),
            "permissions",
        );
        refused(with(|c| c["resources"] = json!({})), "listing tunnels only");
        refused(
            with(|c| c["resources"]["tunnels"]["scopes"]["tunnels"]["connect"] = json!(true)),
            "listing tunnels only",
        );
        refused(
            with(|c| {
                c["resources"]["tunnels"] = json!({"OR": [
                    {"scopes": {"tunnels": {"list": true}}},
                    {"scopes": {"tunnels": {"create": {}}}}
                ]})
            }),
            "listing tunnels only",
        );
        refused(
            with(|c| {
                c["resources"]["tunnels"] = json!({"AND": [
                    {"scopes": {"tunnels": {"list": true}}},
                    {"OR": [{"scopes": {"tunnels": {"connect": true}}}]}
                ]})
            }),
            "listing tunnels only",
        );
        let error = check_url_token("tok_secret_opaque", NOW).unwrap_err();
        assert!(!error.to_string().contains("tok_secret_opaque"), "{error}");
    }
}
