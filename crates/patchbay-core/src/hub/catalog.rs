//! The merged catalogue: every server's tools, prompts, resources and templates under one roof.
//!
//! Names: a tool or prompt `NAME` of server `SERVER` is exposed as `SERVER__NAME`, kept inside
//! the MCP name rule (1-128 characters of `A-Za-z0-9_.-`). Characters outside it become `_`;
//! a name over 128 characters is cut and ends in `-` plus 8 hex digits of a hash of the full
//! original; two originals that would still meet at one exposed name (after those rules) are
//! told apart the same way, the later one in (server, name) order getting the suffix. So the
//! mapping is deterministic: the same servers always give the same names.
//!
//! Resources keep their URIs (clients and servers embed them in content), and route back to
//! their server through a table; a URI no server listed goes to the server whose template
//! prefix matches it. Apps' `ui://` URIs are the exception: each server's are put under its
//! name ([`super::apps`]), in the lists and in the tools' `_meta` that point at them.
//!
//! A [`Catalog`] is an immutable snapshot, rebuilt only when a server's lists change, so
//! `tools/list` is a clone of a ready `Vec`, not a merge per request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::apps;
use crate::names::{exposed_name, with_suffix};

/// The lists one server offers, as it sent them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerCatalog {
    /// `tools/list`.
    pub tools: Vec<Tool>,
    /// `prompts/list`.
    pub prompts: Vec<Prompt>,
    /// `resources/list`.
    pub resources: Vec<Resource>,
    /// `resources/templates/list`.
    pub templates: Vec<ResourceTemplate>,
    /// How long the server said these lists stay fresh (2026-07-28 cache hints). Never kept
    /// with cached lists: what a server promised once says nothing of later.
    #[serde(skip)]
    pub fresh: Freshness,
    /// Whether the server declared the tasks extension (2026-07-28): it may answer a call of a
    /// client that takes tasks with one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tasks_extension: bool,
}

/// The cache hints of a server's lists (`ttlMs`, `cacheScope`), all pages of all lists taken
/// together: the shortest time to live, and whether any was for its caller only. The default
/// promises nothing (a list without a hint, or lists from the cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// The shortest `ttlMs` given; none when a list gave none.
    pub ttl_ms: Option<u64>,
    /// Whether a list was `cacheScope: "private"`.
    pub private: bool,
}

impl Freshness {
    /// Before any list is read: no limit yet.
    pub fn unbounded() -> Self {
        Self {
            ttl_ms: Some(u64::MAX),
            private: false,
        }
    }

    /// Take in the hints of one page.
    pub fn note(&mut self, ttl_ms: Option<u64>, scope: Option<rmcp::model::CacheScope>) {
        self.ttl_ms = self.ttl_ms.zip(ttl_ms).map(|(a, b)| a.min(b));
        self.private |= scope == Some(rmcp::model::CacheScope::Private);
    }

    /// Both taken together.
    fn and(self, other: Self) -> Self {
        let mut both = self;
        both.note(other.ttl_ms, None);
        both.private |= other.private;
        both
    }
}

/// Where an exposed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The server that owns it.
    pub server: String,
    /// Its name on that server.
    pub name: String,
}

/// The merged, renamed snapshot served to clients.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Exposed tools, renamed.
    pub tools: Vec<Tool>,
    /// Exposed prompts, renamed.
    pub prompts: Vec<Prompt>,
    /// Resources, URIs unchanged but for apps'.
    pub resources: Vec<Resource>,
    /// Resource templates, unchanged but for apps'.
    pub templates: Vec<ResourceTemplate>,
    tool_routes: HashMap<String, Route>,
    prompt_routes: HashMap<String, Route>,
    /// Exposed URI → the server and its own URI.
    resource_routes: HashMap<String, Route>,
    template_prefixes: Vec<(String, String)>,
    /// Every server in this catalogue (an app URI names one).
    servers: Vec<String>,
    /// Whether a tool or resource here is an app's (MCP Apps).
    offers_apps: bool,
    /// The servers' cache hints taken together.
    fresh: Freshness,
    /// Whether a tool here takes tasks (2025-11-25).
    offers_tasks: bool,
    /// The servers that declared the tasks extension.
    task_servers: Vec<String>,
}

/// A tool's `execution.taskSupport` (2025-11-25), kept whole from its server's definition.
fn support(tool: &Tool) -> Option<&str> {
    let members = crate::whole::stashed(tool.meta.as_ref())?;
    members.get("execution")?.get("taskSupport")?.as_str()
}

impl Catalog {
    /// Merge per-server lists (server order is the map's order, so the result is stable).
    pub fn build(servers: &BTreeMap<String, Arc<ServerCatalog>>) -> Self {
        let mut catalog = Catalog::default();
        let tool_names = expose(servers.iter().flat_map(|(server, c)| {
            c.tools
                .iter()
                .map(move |t| (server.as_str(), t.name.as_ref()))
        }));
        let tools = servers
            .iter()
            .flat_map(|(server, c)| c.tools.iter().map(move |t| (server, t)));
        for ((server, tool), exposed) in tools.zip(tool_names) {
            let route = Route {
                server: server.clone(),
                name: tool.name.to_string(),
            };
            catalog.tool_routes.insert(exposed.clone(), route);
            let mut tool = tool.clone();
            tool.name = exposed.into();
            apps::expose_tool(server, &mut tool);
            catalog.tools.push(tool);
        }
        let prompt_names = expose(servers.iter().flat_map(|(server, c)| {
            c.prompts
                .iter()
                .map(move |p| (server.as_str(), p.name.as_str()))
        }));
        let prompts = servers
            .iter()
            .flat_map(|(server, c)| c.prompts.iter().map(move |p| (server, p)));
        for ((server, prompt), exposed) in prompts.zip(prompt_names) {
            let route = Route {
                server: server.clone(),
                name: prompt.name.clone(),
            };
            catalog.prompt_routes.insert(exposed.clone(), route);
            let mut prompt = prompt.clone();
            prompt.name = exposed;
            catalog.prompts.push(prompt);
        }
        catalog.fresh = Freshness::unbounded();
        for (server, c) in servers {
            catalog.fresh = catalog.fresh.and(c.fresh);
            catalog.servers.push(server.clone());
            if c.tasks_extension {
                catalog.task_servers.push(server.clone());
            }
            for resource in &c.resources {
                let mut exposed = resource.clone();
                apps::expose_resource(server, &mut exposed);
                // First server to list a URI owns it; later duplicates are not shown twice.
                if !catalog.resource_routes.contains_key(&exposed.uri) {
                    let route = Route {
                        server: server.clone(),
                        name: resource.uri.clone(),
                    };
                    catalog.resource_routes.insert(exposed.uri.clone(), route);
                    catalog.resources.push(exposed);
                }
            }
            for template in &c.templates {
                let mut template = template.clone();
                apps::expose_template(server, &mut template);
                let prefix = template_prefix(&template).to_owned();
                catalog.template_prefixes.push((prefix, server.clone()));
                catalog.templates.push(template);
            }
        }
        catalog.offers_apps = catalog.find_apps();
        catalog.offers_tasks = catalog.find_tasks();
        // Longest prefix first, so the most specific template wins.
        catalog
            .template_prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(&b.1)));
        catalog
    }

    /// The server and original name behind an exposed tool name.
    pub fn tool(&self, exposed: &str) -> Option<&Route> {
        self.tool_routes.get(exposed)
    }

    /// The part of this catalogue `profile` serves: the same names and routes, fewer of them.
    pub fn restricted(&self, profile: &crate::config::profile::Profile) -> Catalog {
        let mut view = Catalog::default();
        for tool in &self.tools {
            if let Some(route) = self.tool_routes.get(tool.name.as_ref())
                && profile.has_tool(&route.server, &tool.name)
            {
                view.tool_routes
                    .insert(tool.name.to_string(), route.clone());
                view.tools.push(tool.clone());
            }
        }
        for prompt in &self.prompts {
            if let Some(route) = self.prompt_routes.get(&prompt.name)
                && profile.has_server(&route.server)
            {
                view.prompt_routes
                    .insert(prompt.name.clone(), route.clone());
                view.prompts.push(prompt.clone());
            }
        }
        for resource in &self.resources {
            if let Some(route) = self.resource_routes.get(&resource.uri)
                && profile.has_server(&route.server)
            {
                view.resource_routes
                    .insert(resource.uri.clone(), route.clone());
                view.resources.push(resource.clone());
            }
        }
        view.servers = self
            .servers
            .iter()
            .filter(|server| profile.has_server(server))
            .cloned()
            .collect();
        view.task_servers = (self.task_servers.iter())
            .filter(|server| profile.has_server(server))
            .cloned()
            .collect();
        view.template_prefixes = self
            .template_prefixes
            .iter()
            .filter(|(_, server)| profile.has_server(server))
            .cloned()
            .collect();
        let kept: std::collections::HashSet<&str> = view
            .template_prefixes
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        view.templates = self
            .templates
            .iter()
            .filter(|t| kept.contains(template_prefix(t)))
            .cloned()
            .collect();
        view.offers_apps = view.find_apps();
        view.offers_tasks = view.find_tasks();
        view
    }

    fn find_apps(&self) -> bool {
        let tool_names_app = |t: &Tool| t.meta.as_ref().is_some_and(|m| apps::names_app(&m.0));
        self.tools.iter().any(tool_names_app)
            || self.resources.iter().any(|r| apps::is_app_uri(&r.uri))
    }

    /// The `ttlMs` that is true of this catalogue's lists: the shortest any server gave, and 0
    /// (no reuse) when one gave none. A change is announced (`list_changed`) either way.
    pub fn ttl_ms(&self) -> u64 {
        self.fresh
            .ttl_ms
            .filter(|&ttl| ttl != u64::MAX)
            .unwrap_or(0)
    }

    /// The `cacheScope` that is true of this catalogue's lists: the same for every caller of
    /// this endpoint, unless a server said its lists are for their caller only.
    pub fn cache_scope(&self) -> rmcp::model::CacheScope {
        match self.fresh.private {
            true => rmcp::model::CacheScope::Private,
            false => rmcp::model::CacheScope::Public,
        }
    }

    /// Whether `server` is in this catalogue.
    pub fn has_server(&self, server: &str) -> bool {
        self.servers.iter().any(|s| s == server)
    }

    /// Whether a tool here takes tasks: the hub then declares them to session clients.
    pub fn offers_tasks(&self) -> bool {
        self.offers_tasks
    }

    /// Whether a tool here takes tasks or a server here makes them (it declared the tasks
    /// extension): the hub then declares the extension to 2026-07-28 clients.
    pub fn offers_task_extension(&self) -> bool {
        self.offers_tasks || !self.task_servers.is_empty()
    }

    /// Whether a tool here takes tasks (2025-11-25 `execution.taskSupport`, kept whole).
    fn find_tasks(&self) -> bool {
        let takes = |tool: &Tool| support(tool).is_some_and(|s| s != "forbidden");
        self.tools.iter().any(takes)
    }

    /// The exposed tool's task support (`execution.taskSupport`): `required`, `optional`,
    /// `forbidden`, or none said.
    pub fn task_support(&self, exposed: &str) -> Option<&str> {
        self.tools
            .iter()
            .find(|tool| tool.name == exposed)
            .and_then(support)
    }

    /// Whether a tool or resource of this catalogue is an app's: the hub then declares MCP
    /// Apps to its clients.
    pub fn offers_apps(&self) -> bool {
        self.offers_apps
    }

    /// The server and original name behind an exposed prompt name.
    pub fn prompt(&self, exposed: &str) -> Option<&Route> {
        self.prompt_routes.get(exposed)
    }

    /// The server that serves a resource URI, and the URI it knows it by.
    pub fn resource(&self, uri: &str) -> Option<Route> {
        if let Some(route) = self.resource_routes.get(uri) {
            return Some(route.clone());
        }
        // An app's URI names its server; servers may leave apps out of `resources/list`.
        if let Some((server, own)) = apps::resolve(uri) {
            return self
                .servers
                .iter()
                .find(|s| *s == server)
                .map(|server| Route {
                    server: server.clone(),
                    name: own,
                });
        }
        self.template_prefixes
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, server)| Route {
                server: server.clone(),
                name: uri.to_owned(),
            })
    }

    /// Tool count per server (for status).
    pub fn tool_counts(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for route in self.tool_routes.values() {
            *counts.entry(route.server.as_str()).or_default() += 1;
        }
        counts
    }
}

/// The part of a URI template before its first variable.
fn template_prefix(template: &ResourceTemplate) -> &str {
    template.uri_template.split('{').next().unwrap_or_default()
}

/// Exposed names for `(server, name)` pairs, aligned with the input. Deterministic: depends
/// only on the set of pairs, not their order.
fn expose<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let pairs: Vec<(&str, &str)> = pairs.collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| pairs[a].cmp(&pairs[b]));
    let mut names = vec![String::new(); pairs.len()];
    let mut taken: HashSet<String> = HashSet::new();
    for i in order {
        let (server, name) = pairs[i];
        let mut exposed = exposed_name(server, name);
        // A suffix collision needs a hash collision too; count on as a last resort.
        let mut n = 1;
        while taken.contains(&exposed) {
            exposed = with_suffix(&exposed_name(server, name), server, &format!("{name}#{n}"));
            n += 1;
        }
        taken.insert(exposed.clone());
        names[i] = exposed;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::MAX_NAME;

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_owned(), "d", Arc::new(Default::default()))
    }

    fn catalog(entries: &[(&str, &[&str])]) -> Catalog {
        let servers = entries
            .iter()
            .map(|(server, tools)| {
                let c = ServerCatalog {
                    tools: tools.iter().map(|t| tool(t)).collect(),
                    ..Default::default()
                };
                (server.to_string(), Arc::new(c))
            })
            .collect();
        Catalog::build(&servers)
    }

    fn valid(name: &str) -> bool {
        (1..=MAX_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    }

    #[test]
    fn names_are_namespaced_and_route_back() {
        let c = catalog(&[("time", &["get_current_time"]), ("everything", &["echo"])]);
        let names: Vec<_> = c.tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, ["everything__echo", "time__get_current_time"]);
        let route = c.tool("time__get_current_time").unwrap();
        assert_eq!(
            (route.server.as_str(), route.name.as_str()),
            ("time", "get_current_time")
        );
        assert!(c.tool("time__echo").is_none());
    }

    #[test]
    fn bad_characters_and_long_names_stay_within_the_rule() {
        let long = "x".repeat(300);
        let c = catalog(&[("s", &["has space/slash", long.as_str(), "ok"])]);
        for t in &c.tools {
            assert!(valid(&t.name), "invalid exposed name {:?}", t.name);
        }
        assert_eq!(c.tool(&c.tools[1].name).unwrap().name, long);
        assert_eq!(c.tools[2].name, "s__ok");
    }

    #[test]
    fn collisions_get_distinct_deterministic_names() {
        // `a b` and `a_b` both sanitise to `a_b`.
        let c1 = catalog(&[("s", &["a b", "a_b"])]);
        let c2 = catalog(&[("s", &["a_b", "a b"])]);
        let names1: HashSet<_> = c1.tools.iter().map(|t| t.name.to_string()).collect();
        let names2: HashSet<_> = c2.tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names1.len(), 2, "{names1:?}");
        assert_eq!(names1, names2, "input order must not change names");
        assert!(
            names1.contains("s__a_b"),
            "the real name keeps its plain form"
        );
        for n in &names1 {
            assert_eq!(c1.tool(n).unwrap().server, "s");
        }
    }

    #[test]
    fn resources_route_by_uri_and_template_prefix() {
        let mut a = ServerCatalog::default();
        a.resources.push(Resource::new("demo://static/1", "one"));
        a.templates
            .push(ResourceTemplate::new("demo://dynamic/{id}", "dyn"));
        let mut b = ServerCatalog::default();
        b.templates.push(ResourceTemplate::new("demo://{x}", "all"));
        let servers =
            BTreeMap::from([("a".to_owned(), Arc::new(a)), ("b".to_owned(), Arc::new(b))]);
        let c = Catalog::build(&servers);
        let server = |uri: &str| c.resource(uri).map(|r| r.server);
        assert_eq!(server("demo://static/1").as_deref(), Some("a"));
        assert_eq!(
            server("demo://dynamic/7").as_deref(),
            Some("a"),
            "longest prefix wins"
        );
        assert_eq!(server("demo://other").as_deref(), Some("b"));
        assert_eq!(server("file:///x"), None);
        assert_eq!(
            c.resource("demo://dynamic/7").unwrap().name,
            "demo://dynamic/7"
        );
        assert!(!c.offers_apps());
    }

    /// Two servers offering an app at one `ui://` URI (as the ext-apps examples do).
    fn two_apps() -> BTreeMap<String, Arc<ServerCatalog>> {
        let app = |server: &str| {
            let mut c = ServerCatalog::default();
            let tool = serde_json::json!({
                "name": "get-time",
                "inputSchema": { "type": "object" },
                "_meta": { "ui": { "resourceUri": "ui://get-time/mcp-app.html" } },
            });
            c.tools.push(serde_json::from_value(tool).unwrap());
            c.resources
                .push(Resource::new("ui://get-time/mcp-app.html", "app"));
            c.resources.push(Resource::new("demo://shared", server));
            c.templates
                .push(ResourceTemplate::new("ui://widgets/{id}", "widget"));
            (server.to_owned(), Arc::new(c))
        };
        BTreeMap::from([app("preact"), app("vanilla")])
    }

    #[test]
    fn apps_of_two_servers_at_one_uri_stay_apart() {
        let c = Catalog::build(&two_apps());
        assert!(c.offers_apps());
        let uris: Vec<&str> = c.resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "ui://preact/get-time/mcp-app.html",
                "demo://shared",
                "ui://vanilla/get-time/mcp-app.html",
            ],
            "each app once per server; other URIs unchanged, the first server's kept"
        );
        for tool in &c.tools {
            let server = &c.tool(&tool.name).unwrap().server;
            let meta = serde_json::to_value(&tool.meta).unwrap();
            let uri = meta["ui"]["resourceUri"].as_str().unwrap();
            assert_eq!(uri, format!("ui://{server}/get-time/mcp-app.html"));
            let route = c.resource(uri).unwrap();
            assert_eq!(
                (route.server.as_str(), route.name.as_str()),
                (server.as_str(), "ui://get-time/mcp-app.html"),
                "the tool's app is read from its own server under the server's URI"
            );
        }
        let templates: Vec<&str> = c
            .templates
            .iter()
            .map(|t| t.uri_template.as_str())
            .collect();
        assert_eq!(
            templates,
            ["ui://preact/widgets/{id}", "ui://vanilla/widgets/{id}"]
        );
        let unlisted = c.resource("ui://vanilla/widgets/7").unwrap();
        assert_eq!(
            (unlisted.server.as_str(), unlisted.name.as_str()),
            ("vanilla", "ui://widgets/7")
        );
        assert!(
            c.resource("ui://get-time/mcp-app.html").is_none(),
            "no server `get-time`"
        );
        assert!(c.resource("ui://nobody/x").is_none());
    }

    #[test]
    fn a_profile_view_keeps_only_its_servers_apps() {
        let c = Catalog::build(&two_apps());
        let profile = crate::config::profile::Profile {
            servers: vec!["vanilla".to_owned()],
            tools: Vec::new(),
        };
        let view = c.restricted(&profile);
        assert!(view.offers_apps());
        assert!(
            view.resource("ui://vanilla/get-time/mcp-app.html")
                .is_some()
        );
        assert!(view.resource("ui://preact/get-time/mcp-app.html").is_none());
        assert!(view.resource("ui://preact/widgets/1").is_none());
        let uris: Vec<&str> = view.resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["ui://vanilla/get-time/mcp-app.html"]);
    }
}
