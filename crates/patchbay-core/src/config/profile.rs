//! Profiles: named subsets of the hub, served at `/p/<profile>/mcp` (and by
//! `patchbay bridge --profile NAME`), for clients that should see fewer servers or tools.
//!
//! ```toml
//! [profiles.work]
//! servers = ["github", "linear"]               # absent or empty: every server
//! tools = ["github__*", "!github__delete_*"]   # absent: every tool of those servers
//! ```
//!
//! A tool is in the profile when its server is, it matches one of the positive patterns (or
//! there are none), and it matches no `!` pattern. Patterns match the exposed name
//! (`server__tool`); `*` is any run of characters, `?` one character. Prompts, resources and
//! templates follow the servers only. A server named in a profile but not configured is
//! ignored (and `patchbay profile show` says so), so removing a server never breaks a profile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ServerConfig;

/// One `[profiles.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The servers it serves; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// Tool name patterns; `!` excludes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// Whether `pattern` (with `*` and `?`) matches all of `name`.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Profile {
    /// Whether it serves `server`.
    pub fn has_server(&self, server: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == server)
    }

    /// Whether it serves the tool exposed as `name` of `server`.
    pub fn has_tool(&self, server: &str, name: &str) -> bool {
        if !self.has_server(server) {
            return false;
        }
        let (denied, allowed): (Vec<&String>, Vec<&String>) =
            self.tools.iter().partition(|p| p.starts_with('!'));
        let included = allowed.is_empty() || allowed.iter().any(|p| glob(p, name));
        included && !denied.iter().any(|p| glob(&p[1..], name))
    }

    /// The servers it names that are not configured (ignored until they are).
    pub fn unknown_servers<'a>(
        &'a self,
        configured: &BTreeMap<String, ServerConfig>,
    ) -> Vec<&'a str> {
        self.servers
            .iter()
            .filter(|s| !configured.contains_key(*s))
            .map(String::as_str)
            .collect()
    }

    /// What is wrong with it, if anything (empty patterns).
    pub fn problem(&self) -> Option<String> {
        self.tools
            .iter()
            .find(|p| p.trim_start_matches('!').is_empty())
            .map(|_| "a tool pattern is empty".to_owned())
    }
}

/// A profile as a running hub serves it: one entry of `GET /api/v1/profiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProfileStatus {
    pub name: String,
    /// The servers it names; empty: all.
    pub servers: Vec<String>,
    /// Its tool patterns; empty: every tool of those servers.
    pub tools: Vec<String>,
    /// Servers it names that are not configured (ignored until they are).
    pub unknown_servers: Vec<String>,
    /// How many tools it serves now.
    pub served_tools: usize,
    /// Its endpoint's path on the hub (`/p/NAME/mcp`).
    pub path: String,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

/// The profile to suggest to a client that takes at most `limit` tools: of those that fit and
/// serve anything, the one serving the most (the least taken away; the first by name on a tie),
/// never `current` nor one with a problem.
pub fn fitting<'a>(
    profiles: &'a [ProfileStatus],
    limit: usize,
    current: Option<&str>,
) -> Option<&'a ProfileStatus> {
    profiles
        .iter()
        .filter(|p| {
            Some(p.name.as_str()) != current
                && p.problem.is_none()
                && (1..=limit).contains(&p.served_tools)
        })
        .max_by(|a, b| {
            a.served_tools
                .cmp(&b.served_tools)
                .then_with(|| b.name.cmp(&a.name))
        })
}

/// What a client with a tool limit is served, for the warning when it is over the limit.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The client's catalogue id and name.
    pub id: &'a str,
    pub name: &'a str,
    pub limit: usize,
    /// How many tools its entry gets, and from which profile (none: the whole hub).
    pub tools: usize,
    pub profile: Option<&'a str>,
}

/// The warning for a client served more tools than it takes, naming the profile to switch to
/// when one fits (as `patchbay clients`, `patchbay install` and the window say it); `None`
/// within the limit.
pub fn limit_warning(served: Served<'_>, profiles: &[ProfileStatus]) -> Option<String> {
    let Served {
        id,
        name,
        limit,
        tools,
        profile,
    } = served;
    if tools <= limit {
        return None;
    }
    let who = profile.map_or_else(
        || "the hub serves".to_owned(),
        |p| format!("profile `{p}` serves"),
    );
    let remedy = match fitting(profiles, limit, profile) {
        Some(p) => format!(
            "serve it profile `{}` ({} tools): `patchbay install {id} --profile {}`",
            p.name, p.served_tools, p.name
        ),
        None => format!(
            "give it a profile: `patchbay profile create NAME --servers A,B` then `patchbay install {id} --profile NAME`"
        ),
    };
    Some(format!(
        "{who} {tools} tools and {name} uses at most {limit}; disable servers it does not need, or {remedy}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, served_tools: usize) -> ProfileStatus {
        ProfileStatus {
            name: name.to_owned(),
            servers: Vec::new(),
            tools: Vec::new(),
            unknown_servers: Vec::new(),
            served_tools,
            path: format!("/p/{name}/mcp"),
            problem: None,
        }
    }

    #[test]
    fn the_profile_suggested_fits_and_takes_the_least_away() {
        let profiles = [
            status("a-small", 5),
            status("b-big", 39),
            status("c-big", 39),
            status("huge", 41),
            status("empty", 0),
            ProfileStatus {
                problem: Some("a tool pattern is empty".into()),
                ..status("broken", 20)
            },
        ];
        let name = |current| fitting(&profiles, 40, current).map(|p| p.name.as_str());
        assert_eq!(
            name(None),
            Some("b-big"),
            "most tools, first by name on a tie"
        );
        assert_eq!(name(Some("b-big")), Some("c-big"), "never the one it has");
        assert_eq!(fitting(&profiles, 4, None), None, "none fits");
        assert_eq!(
            fitting(&profiles[3..], 40, None),
            None,
            "empty and broken ones are not suggested"
        );
    }

    #[test]
    fn the_limit_warning_names_who_serves_and_the_way_out() {
        let served = |tools, profile| Served {
            id: "cursor",
            name: "Cursor",
            limit: 40,
            tools,
            profile,
        };
        let profiles = [status("work", 12)];
        assert_eq!(limit_warning(served(40, None), &profiles), None);
        assert_eq!(
            limit_warning(served(45, None), &profiles).unwrap(),
            "the hub serves 45 tools and Cursor uses at most 40; disable servers it does not need, or serve it profile `work` (12 tools): `patchbay install cursor --profile work`"
        );
        let without = limit_warning(served(45, Some("work")), &profiles).unwrap();
        assert!(
            without.starts_with("profile `work` serves 45 tools")
                && without.ends_with("give it a profile: `patchbay profile create NAME --servers A,B` then `patchbay install cursor --profile NAME`"),
            "{without}"
        );
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("github__*", "github__create_issue"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(glob("*__delete_*", "github__delete_repo"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("github__*", "gitlab__x"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("a*", "a"));
    }

    #[test]
    fn a_profile_keeps_its_servers_and_patterns_and_drops_the_excluded() {
        let work = Profile {
            servers: vec!["github".into(), "linear".into()],
            tools: vec![
                "github__*".into(),
                "linear__*".into(),
                "!github__delete_*".into(),
            ],
        };
        assert!(work.has_tool("github", "github__create_issue"));
        assert!(!work.has_tool("github", "github__delete_repo"));
        assert!(work.has_tool("linear", "linear__list"));
        assert!(
            !work.has_tool("time", "time__now"),
            "server not in the profile"
        );
        let only_excludes = Profile {
            servers: vec![],
            tools: vec!["!*__delete_*".into()],
        };
        assert!(only_excludes.has_tool("any", "any__read"));
        assert!(!only_excludes.has_tool("any", "any__delete_all"));
        assert!(Profile::default().has_tool("x", "x__y"));
    }
}
