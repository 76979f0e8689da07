//! The hosted-project routes: who the caller is, the projects it sees, and
//! TURN credentials issued by the control plane; and authentication with
//! application credentials.

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::auth::{self, AppCredentials};
use crate::control_plane::{ControlPlane, Project};
use crate::error::Error;
use crate::http;
use crate::secret::Secret;
use crate::turn::{self, MAX_TURN_TTL, TurnCredentials, TurnOptions};

/// How long each application token minted for one request lives.
const REQUEST_TOKEN_LIFETIME: u32 = 60;

/// The caller, as the control plane sees it (`GET /api/whoami`). Unknown
/// fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Whoami {
    /// The user or application id.
    pub id: String,
    /// The caller's role.
    #[serde(default)]
    pub role: String,
    /// The display name, when there is one.
    #[serde(default)]
    pub name: Option<String>,
    /// The e-mail address, when there is one.
    #[serde(default)]
    pub email: Option<String>,
    /// The permissions the caller holds.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// One page of tunnel projects (`GET /api/projects/tunnels`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProjectPage {
    /// The projects of this page.
    #[serde(default)]
    pub projects: Vec<Project>,
    /// The page number.
    #[serde(default)]
    pub page: u32,
    /// The page size.
    #[serde(default)]
    pub page_size: u32,
    /// How many projects match in all.
    #[serde(default)]
    pub total: u64,
    /// How many pages there are.
    #[serde(default)]
    pub total_pages: u32,
}

/// Which projects to list, and in what order. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectQuery {
    query: Option<String>,
    page: Option<u32>,
    page_size: Option<u32>,
    sort: Option<String>,
    order: Option<String>,
}

impl ProjectQuery {
    /// All projects, in the control plane's default order.
    pub fn new() -> Self {
        Self::default()
    }

    /// A search text (`q`).
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.query = Some(text.into());
        self
    }

    /// The page to return (`page`).
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    /// Projects per page (`pageSize`).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The field to sort on (`sort`).
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort = Some(field.into());
        self
    }

    /// `asc` or `desc` (`order`).
    pub fn order(mut self, order: impl Into<String>) -> Self {
        self.order = Some(order.into());
        self
    }

    fn apply(&self, url: &mut Url) {
        let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let pairs = [
            ("q", non_empty(&self.query)),
            ("page", self.page.map(|p| p.to_string())),
            ("pageSize", self.page_size.map(|p| p.to_string())),
            ("sort", non_empty(&self.sort)),
            ("order", non_empty(&self.order)),
        ];
        let pairs: Vec<_> = pairs
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
    }
}

/// A project named by its id or by its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRef<'a> {
    /// By project id.
    Id(&'a str),
    /// By project endpoint.
    Endpoint(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TurnRequestBody {
    ttl_seconds: u32,
}

#[derive(Deserialize)]
struct TurnResponse {
    username: String,
    credential: String,
    #[serde(default)]
    urls: Vec<String>,
    ttl: u32,
}

impl ControlPlane {
    /// Authenticates every request with a fresh application token minted
    /// from `credentials` (60 s, no boundary claims), instead of the token.
    pub fn with_app_credentials(mut self, credentials: AppCredentials) -> Self {
        self.app = Some(credentials);
        self
    }

    /// The bearer token of the next request, if any.
    pub(super) fn bearer(&self) -> Result<Option<Secret>, Error> {
        match &self.app {
            Some(app) => app
                .mint_api_token(REQUEST_TOKEN_LIFETIME, auth::unix_now())
                .map(Some),
            None => Ok(self.token.clone()),
        }
    }

    /// Who the credentials belong to (`GET /api/whoami`).
    pub async fn whoami(&self) -> Result<Whoami, Error> {
        let url = self.url(&["api", "whoami"])?;
        let label = format!("GET {}", url.path());
        let response = self.send(&label, self.http.get(url)).await?;
        let whoami: Whoami = http::json(&label, response).await?;
        if whoami.id.trim().is_empty() {
            return Err(Error::protocol(format!("{label}: the id is empty")));
        }
        Ok(whoami)
    }

    /// One page of the tunnel projects the credentials see
    /// (`GET /api/projects/tunnels`).
    pub async fn list_projects(&self, query: &ProjectQuery) -> Result<ProjectPage, Error> {
        let mut url = self.url(&["api", "projects", "tunnels"])?;
        query.apply(&mut url);
        let label = format!("GET {}", url.path());
        let response = self.send(&label, self.http.get(url)).await?;
        http::json(&label, response).await
    }

    /// TURN credentials for a project, issued by the control plane
    /// (`POST /api/projects/tunnels/{id}/turn-server/credentials`, or
    /// `.../resolve/{endpoint}/turn-server/credentials`). `ttl_seconds`, 1
    /// to 3600, is checked before anything is sent; `None` leaves it to the
    /// control plane.
    pub async fn turn_credentials(
        &self,
        project: ProjectRef<'_>,
        ttl_seconds: Option<u32>,
    ) -> Result<TurnCredentials, Error> {
        if let Some(ttl) = ttl_seconds {
            if !(1..=MAX_TURN_TTL).contains(&ttl) {
                return Err(Error::invalid(format!(
                    "the TURN TTL must be 1 to {MAX_TURN_TTL} seconds, not {ttl}"
                )));
            }
        }
        let url = match project {
            ProjectRef::Id(id) => {
                let id = non_blank(id, "project id")?;
                self.url(&[
                    "api",
                    "projects",
                    "tunnels",
                    id,
                    "turn-server",
                    "credentials",
                ])?
            }
            ProjectRef::Endpoint(endpoint) => {
                let endpoint = non_blank(endpoint, "project endpoint")?;
                self.url(&[
                    "api",
                    "projects",
                    "tunnels",
                    "resolve",
                    endpoint,
                    "turn-server",
                    "credentials",
                ])?
            }
        };
        let label = format!("POST {}", url.path());
        // The references send a body only when they set a TTL.
        let request = match ttl_seconds {
            Some(ttl_seconds) => self.http.post(url).json(&TurnRequestBody { ttl_seconds }),
            None => self.http.post(url),
        };
        let response = self.send(&label, request).await?;
        let turn: TurnResponse = http::json(&label, response).await?;
        check_turn(&label, &turn)?;
        Ok(TurnCredentials {
            username: turn.username,
            credential: Secret::new(turn.credential),
            ttl: turn.ttl,
            urls: turn.urls,
        })
    }
}

/// The largest keyring answer read: the hex of one public key.
const MAX_KEYRING_BODY: usize = 8 * 1024;

impl ControlPlane {
    /// The TURN keyring key of `realm` (a cluster domain): the hex of its
    /// SPKI DER public key, from
    /// `GET <keyring URL>/keyrings/turn/<realm>.spki.der.hex`. The key is
    /// public; no credentials are sent. An answer other than 200, larger
    /// than 8 KiB or not hexadecimal is an error; redirects are not
    /// followed.
    pub async fn turn_keyring_key(&self, realm: &str) -> Result<String, Error> {
        let realm = realm.trim().to_ascii_lowercase();
        if !turn::valid_domain(&realm) {
            return Err(Error::invalid(format!(
                "the TURN realm {realm:?} is not a DNS name"
            )));
        }
        let mut url = self
            .turn_keyring_url
            .clone()
            .unwrap_or_else(|| self.api_url.clone());
        url.path_segments_mut()
            .map_err(|()| Error::config("the TURN keyring URL cannot take a path"))?
            .pop_if_empty()
            .extend(["keyrings", "turn", &format!("{realm}.spki.der.hex")]);
        let label = format!("GET {}", url.path());
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| http::transport_error(&label, e))?;
        let body = http::small_ok_body(&label, response, MAX_KEYRING_BODY).await?;
        let text = std::str::from_utf8(&body).unwrap_or_default().trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::protocol(format!(
                "{label}: the keyring answer is not a hex key"
            )));
        }
        Ok(text.to_owned())
    }

    /// APP-mode TURN credentials derived locally: the keyring key of the
    /// options' cluster domain is fetched ([`ControlPlane::turn_keyring_key`]),
    /// then [`turn::app_credentials`] signs. No application secret leaves
    /// the process.
    pub async fn turn_app_credentials(
        &self,
        credentials: &AppCredentials,
        options: &TurnOptions,
    ) -> Result<TurnCredentials, Error> {
        let key = self.turn_keyring_key(options.cluster_domain()).await?;
        turn::app_credentials(credentials, &key, options)
    }
}

fn non_blank<'a>(value: &'a str, what: &str) -> Result<&'a str, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(format!("the {what} is empty")));
    }
    Ok(value)
}

/// Refuses a TURN answer no WebRTC stack should be handed.
fn check_turn(label: &str, turn: &TurnResponse) -> Result<(), Error> {
    let bad = |what: &str| Err(Error::protocol(format!("{label}: {what}")));
    if turn.username.is_empty() || turn.credential.is_empty() {
        return bad("the TURN credentials are empty");
    }
    if turn.ttl == 0 || turn.ttl > MAX_TURN_TTL {
        return bad("the TURN TTL is out of range");
    }
    if turn.urls.is_empty() {
        return bad("no TURN server URL");
    }
    for url in &turn.urls {
        let scheme_ok = ["turn:", "turns:", "stun:", "stuns:"]
            .iter()
            .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
        if !scheme_ok || url.len() > 2048 || url.chars().any(char::is_whitespace) {
            return bad("an invalid TURN server URL");
        }
    }
    Ok(())
}
