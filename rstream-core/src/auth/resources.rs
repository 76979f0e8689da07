//! Resource boundaries: which tunnels a minted token covers and what it may
//! do with them.

use serde::{Deserialize, Serialize};

use crate::auth::filter::{ConnectParams, TunnelFilter, TunnelSelect};
use crate::error::{Error, Result};

/// How deep `AND` / `OR` may nest; deeper trees are refused.
pub const MAX_RESOURCE_DEPTH: usize = 16;

/// The resources a token covers: today only tunnels.
///
/// Serialised as the token's `resources` claim, `{"tunnels": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResources {
    /// The tunnels the token covers.
    pub tunnels: TunnelResource,
}

impl TokenResources {
    /// Resources covering the tunnels `tunnels` describes.
    pub fn tunnels(tunnels: TunnelResource) -> Self {
        TokenResources { tunnels }
    }
}

/// A boundary on tunnels: a leaf (a target and scopes), or an explicit
/// conjunction or disjunction of boundaries.
///
/// Every branch of the tree must grant explicit [`TunnelScopes`]: a leaf
/// with a target only narrows the scopes of its `AND` siblings.
// A tree is built once per token and stays small: boxing the leaf would
// only make it clumsier to write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TunnelResource {
    /// All of these boundaries hold (`{"AND": [...]}`).
    All(AllOf),
    /// One of these boundaries holds (`{"OR": [...]}`).
    Any(AnyOf),
    /// A target, scopes, or both.
    Leaf(ResourceLeaf),
}

/// The children of an `AND` node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllOf {
    /// At least one boundary.
    #[serde(rename = "AND")]
    pub all: Vec<TunnelResource>,
}

/// The children of an `OR` node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyOf {
    /// At least one boundary.
    #[serde(rename = "OR")]
    pub any: Vec<TunnelResource>,
}

/// One boundary: the workspaces or projects it targets, the scopes it
/// grants, or both.
///
/// A leaf with scopes and no target is *scope-only*: unless the token
/// request opts out ([`crate::auth::TokenRequest::unscoped`]), it is bound
/// to the request's project (or workspace) when minted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceLeaf {
    /// Workspace ids (at least one when present; not with `projects`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
    /// Project ids (at least one when present; not with `workspaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    /// What the token may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<ResourceScopes>,
}

/// The scopes of a leaf, by kind of resource (`{"tunnels": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceScopes {
    /// What the token may do with tunnels.
    pub tunnels: TunnelScopes,
}

/// What a token may do with the tunnels of its boundary; at least one action
/// must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TunnelScopes {
    /// Creating tunnels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<Scope<CreateRules>>,
    /// Connecting to tunnels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Scope<ConnectRules>>,
    /// Listing tunnels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Scope<ListRules>>,
}

/// One action of [`TunnelScopes`]: allowed or denied outright (`true` /
/// `false`), or allowed under rules (an object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scope<R> {
    /// `true`: allowed; `false`: denied.
    Allowed(bool),
    /// Allowed where the rules hold.
    Where(R),
}

/// Rules of the `create` action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateRules {
    /// Conditions the created tunnel must meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<TunnelFilter>,
}

/// Rules of the `connect` action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectRules {
    /// Conditions the tunnel connected to must meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<TunnelFilter>,
    /// Conditions on the connection itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<ConnectParams>,
}

/// Rules of the `list` action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListRules {
    /// Conditions the listed tunnels must meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<TunnelFilter>,
    /// The properties returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<TunnelSelect>,
}

impl CreateRules {
    /// Creating tunnels that meet `filters`.
    pub fn filters(filters: TunnelFilter) -> Self {
        CreateRules {
            filters: Some(filters),
        }
    }
}

impl ConnectRules {
    /// Connecting to tunnels that meet `filters`.
    pub fn filters(filters: TunnelFilter) -> Self {
        ConnectRules {
            filters: Some(filters),
            params: None,
        }
    }

    /// Also constrains the connection's parameters.
    pub fn params(mut self, params: ConnectParams) -> Self {
        self.params = Some(params);
        self
    }
}

impl ListRules {
    /// Listing tunnels that meet `filters`.
    pub fn filters(filters: TunnelFilter) -> Self {
        ListRules {
            filters: Some(filters),
            select: None,
        }
    }

    /// Also restricts the returned properties.
    pub fn select(mut self, select: TunnelSelect) -> Self {
        self.select = Some(select);
        self
    }
}

impl TunnelScopes {
    /// No action yet: add at least one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creating, connecting to and listing tunnels, without conditions.
    pub fn all() -> Self {
        TunnelScopes::new()
            .create(Scope::Allowed(true))
            .connect(Scope::Allowed(true))
            .list(Scope::Allowed(true))
    }

    /// Sets the `create` action.
    pub fn create(mut self, scope: Scope<CreateRules>) -> Self {
        self.create = Some(scope);
        self
    }

    /// Sets the `connect` action.
    pub fn connect(mut self, scope: Scope<ConnectRules>) -> Self {
        self.connect = Some(scope);
        self
    }

    /// Sets the `list` action.
    pub fn list(mut self, scope: Scope<ListRules>) -> Self {
        self.list = Some(scope);
        self
    }

    fn validate(&self) -> Result<()> {
        if self.create.is_none() && self.connect.is_none() && self.list.is_none() {
            return Err(Error::invalid(
                "tunnel scopes need at least one action: create, connect or list",
            ));
        }
        if let Some(Scope::Where(CreateRules {
            filters: Some(filters),
        })) = &self.create
        {
            filters.validate(true)?;
        }
        if let Some(Scope::Where(rules)) = &self.connect {
            if let Some(filters) = &rules.filters {
                filters.validate(false)?;
            }
            if let Some(params) = &rules.params {
                params.validate()?;
            }
        }
        if let Some(Scope::Where(ListRules {
            filters: Some(filters),
            ..
        })) = &self.list
        {
            filters.validate(false)?;
        }
        Ok(())
    }
}

impl TunnelResource {
    /// A scope-only leaf: bound to the token request's project or workspace
    /// when minted.
    pub fn scopes(scopes: TunnelScopes) -> Self {
        TunnelResource::Leaf(ResourceLeaf {
            scopes: Some(ResourceScopes { tunnels: scopes }),
            ..ResourceLeaf::default()
        })
    }

    /// A leaf granting `scopes` on the tunnels of these projects.
    pub fn projects<I, S>(projects: I, scopes: TunnelScopes) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TunnelResource::Leaf(ResourceLeaf {
            projects: Some(projects.into_iter().map(Into::into).collect()),
            scopes: Some(ResourceScopes { tunnels: scopes }),
            ..ResourceLeaf::default()
        })
    }

    /// A leaf granting `scopes` on the tunnels of these workspaces.
    pub fn workspaces<I, S>(workspaces: I, scopes: TunnelScopes) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TunnelResource::Leaf(ResourceLeaf {
            workspaces: Some(workspaces.into_iter().map(Into::into).collect()),
            scopes: Some(ResourceScopes { tunnels: scopes }),
            ..ResourceLeaf::default()
        })
    }

    /// A target-only leaf on these projects, to narrow `AND` siblings.
    pub fn only_projects<I, S>(projects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TunnelResource::Leaf(ResourceLeaf {
            projects: Some(projects.into_iter().map(Into::into).collect()),
            ..ResourceLeaf::default()
        })
    }

    /// A target-only leaf on these workspaces, to narrow `AND` siblings.
    pub fn only_workspaces<I, S>(workspaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TunnelResource::Leaf(ResourceLeaf {
            workspaces: Some(workspaces.into_iter().map(Into::into).collect()),
            ..ResourceLeaf::default()
        })
    }

    /// All of `children` hold.
    pub fn and(children: impl IntoIterator<Item = TunnelResource>) -> Self {
        TunnelResource::All(AllOf {
            all: children.into_iter().collect(),
        })
    }

    /// One of `children` holds.
    pub fn or(children: impl IntoIterator<Item = TunnelResource>) -> Self {
        TunnelResource::Any(AnyOf {
            any: children.into_iter().collect(),
        })
    }

    /// Checks the shape of the tree and trims every id, as the token will
    /// carry them.
    pub(crate) fn normalize(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_RESOURCE_DEPTH {
            return Err(Error::invalid(format!(
                "tunnel resources nest deeper than {MAX_RESOURCE_DEPTH} levels"
            )));
        }
        match self {
            TunnelResource::All(AllOf { all: children })
            | TunnelResource::Any(AnyOf { any: children }) => {
                if children.is_empty() {
                    return Err(Error::invalid("an AND or OR of tunnel resources is empty"));
                }
                children
                    .iter_mut()
                    .try_for_each(|child| child.normalize(depth + 1))
            }
            TunnelResource::Leaf(leaf) => leaf.normalize(),
        }
    }

    /// Whether this tree has a leaf with a target.
    fn has_target(&self) -> bool {
        match self {
            TunnelResource::All(AllOf { all: children })
            | TunnelResource::Any(AnyOf { any: children }) => {
                children.iter().any(TunnelResource::has_target)
            }
            TunnelResource::Leaf(leaf) => leaf.has_target(),
        }
    }

    /// Whether some branch of the tree (one choice at every `OR`, every
    /// child of every `AND`) grants no scopes at all.
    pub(crate) fn has_branch_without_scopes(&self) -> bool {
        match self {
            TunnelResource::Any(AnyOf { any }) => {
                any.iter().any(TunnelResource::has_branch_without_scopes)
            }
            TunnelResource::All(AllOf { all }) => {
                all.iter().all(TunnelResource::has_branch_without_scopes)
            }
            TunnelResource::Leaf(leaf) => leaf.scopes.is_none(),
        }
    }

    /// Whether binding to a default target would change something.
    pub(crate) fn needs_default_target(&self, inherited: bool) -> bool {
        match self {
            TunnelResource::All(AllOf { all }) => {
                let targeted = inherited || all.iter().any(TunnelResource::has_target);
                all.iter().any(|child| child.needs_default_target(targeted))
            }
            TunnelResource::Any(AnyOf { any }) => any
                .iter()
                .any(|child| child.needs_default_target(inherited)),
            TunnelResource::Leaf(leaf) => leaf.scopes.is_some() && !leaf.has_target() && !inherited,
        }
    }

    /// Binds every scope-only leaf that no `AND` sibling narrows to
    /// `target`.
    pub(crate) fn apply_default_target(&mut self, target: &Target, inherited: bool) {
        match self {
            TunnelResource::All(AllOf { all }) => {
                let targeted = inherited || all.iter().any(TunnelResource::has_target);
                for child in all {
                    child.apply_default_target(target, targeted);
                }
            }
            TunnelResource::Any(AnyOf { any }) => {
                for child in any {
                    child.apply_default_target(target, inherited);
                }
            }
            TunnelResource::Leaf(leaf) => {
                if leaf.scopes.is_some() && !leaf.has_target() && !inherited {
                    match target {
                        Target::Project(id) => leaf.projects = Some(vec![id.clone()]),
                        Target::Workspace(id) => leaf.workspaces = Some(vec![id.clone()]),
                    }
                }
            }
        }
    }
}

/// The project or workspace that scope-only leaves are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Project(String),
    Workspace(String),
}

impl ResourceLeaf {
    fn has_target(&self) -> bool {
        self.projects.is_some() || self.workspaces.is_some()
    }

    fn normalize(&mut self) -> Result<()> {
        if self.workspaces.is_some() && self.projects.is_some() {
            return Err(Error::invalid(
                "a tunnel resource cannot target workspaces and projects at the same time",
            ));
        }
        if !self.has_target() && self.scopes.is_none() {
            return Err(Error::invalid(
                "a tunnel resource must target workspaces, target projects, or define scopes",
            ));
        }
        for (what, ids) in [
            ("workspaces", &mut self.workspaces),
            ("projects", &mut self.projects),
        ] {
            if let Some(ids) = ids {
                if ids.is_empty() {
                    return Err(Error::invalid(format!(
                        "a tunnel resource's `{what}` list is empty"
                    )));
                }
                for id in ids.iter_mut() {
                    let trimmed = id.trim();
                    if trimmed.is_empty() {
                        return Err(Error::invalid(format!(
                            "a tunnel resource's `{what}` list holds an empty id"
                        )));
                    }
                    *id = trimmed.to_owned();
                }
            }
        }
        if let Some(scopes) = &self.scopes {
            scopes.tunnels.validate()?;
        }
        Ok(())
    }
}
