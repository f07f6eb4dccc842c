//! Names as Patchbay writes and checks them: a server's name, an environment variable's, and
//! the namespaced name a client sees (`SERVER__NAME`, kept inside the MCP name rule).
//!
//! A leaf: it imports nothing of the crate, so the config, the vault and the catalogue agree
//! on one set of rules.

/// Separator between the server and the item name.
pub const SEPARATOR: &str = "__";
/// Longest name the MCP name rule allows.
pub const MAX_NAME: usize = 128;

/// Whether `name` may name a server: it becomes the prefix of every tool name, so it is kept to
/// the MCP name alphabet, short, and free of the `__` separator.
pub fn valid_server_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && name.len() <= 32
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A server name made of `text` (a host label, a registry name's last segment): lower-case
/// letters and digits, other characters as `-`, at most 32; `None` when nothing is left.
pub fn server_name_like(text: &str) -> Option<String> {
    let dashed: String = text
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .collect();
    let mut name = String::new();
    for c in dashed.trim_matches('-').chars() {
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let name: String = name.chars().take(32).collect();
    let name = name.trim_end_matches('-').to_owned();
    valid_server_name(&name).then_some(name)
}

/// `base`, or the first of `base-2`, `base-3`, ... that is not `taken` (kept within 32).
pub fn unused_name(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| {
            let suffix = format!("-{n}");
            let keep = base.len().min(32 - suffix.len());
            format!("{}{suffix}", base[..keep].trim_end_matches('-'))
        })
        .find(|name| !taken(name))
        .expect("some suffix is free")
}

/// Whether `var` is a portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_env_var(var: &str) -> bool {
    let mut chars = var.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && var.len() <= 128
}

/// `server__name` within the MCP name rule, before collision handling.
pub fn exposed_name(server: &str, name: &str) -> String {
    let raw = format!("{server}{SEPARATOR}{name}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == raw && clean.len() <= MAX_NAME {
        clean
    } else {
        // Cut or sanitised names could meet another name; the hash of the original keeps
        // them apart.
        with_suffix(&clean, server, name)
    }
}

pub(crate) fn with_suffix(base: &str, server: &str, name: &str) -> String {
    let hash = fnv1a64(format!("{server}\0{name}").as_bytes());
    let suffix = format!("-{:08x}", hash as u32);
    let keep = base.len().min(MAX_NAME - suffix.len());
    format!("{}{suffix}", &base[..keep])
}

/// FNV-1a, 64 bits: a stable, dependency-free checksum and short name hash. Not a MAC: it
/// detects torn or mixed writes and keeps names short, nothing more.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_from_any_text_and_kept_apart() {
        assert_eq!(server_name_like("weather").as_deref(), Some("weather"));
        assert_eq!(
            server_name_like("Mcp_Server.Time").as_deref(),
            Some("mcp-server-time")
        );
        assert_eq!(server_name_like("--a  b--").as_deref(), Some("a-b"));
        assert_eq!(server_name_like("..."), None);
        let long = server_name_like(&"x".repeat(40)).unwrap();
        assert_eq!(long.len(), 32);
        let taken = ["time", "time-2"];
        assert_eq!(unused_name("time", |n| taken.contains(&n)), "time-3");
        assert_eq!(unused_name("fresh", |n| taken.contains(&n)), "fresh");
        let full = "y".repeat(32);
        let next = unused_name(&full, |n| n == full);
        assert_eq!((next.len(), next.ends_with("-2")), (32, true));
    }
}
