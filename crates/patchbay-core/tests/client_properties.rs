//! Properties of the writers over randomly generated existing configs (other servers, unknown
//! keys, nesting, and comments where the format has them): install never drops or changes
//! anything but our entry, and install then uninstall gives back the same parsed content.

mod common;

use proptest::prelude::*;
use serde_json::{Map, Value};

use patchbay_core::clients::catalog::{CLIENTS, ClientSpec, Format};
use patchbay_core::clients::{ENTRY, InstallOptions};

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_ .-]{0,8}".prop_filter("not ours", |k| k != ENTRY)
}

/// A JSON value TOML can also hold (no nulls, no mixed arrays needed).
fn leaf(toml: bool) -> BoxedStrategy<Value> {
    let mut options = vec![
        any::<i32>().prop_map(Value::from).boxed(),
        any::<bool>().prop_map(Value::from).boxed(),
        "[ -~]{0,12}".prop_map(Value::from).boxed(),
    ];
    if !toml {
        options.push(Just(Value::Null).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn value(toml: bool) -> impl Strategy<Value = Value> {
    leaf(toml).prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(leaf(toml), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn server(toml: bool) -> impl Strategy<Value = Value> {
    (
        "[a-z/]{1,12}",
        proptest::collection::vec("[ -~]{0,8}", 0..4),
        proptest::collection::btree_map(key(), value(toml), 0..3),
    )
        .prop_map(|(command, args, extra)| {
            let mut entry: Map<String, Value> = extra.into_iter().collect();
            entry.insert("command".into(), command.into());
            entry.insert("args".into(), args.into());
            Value::Object(entry)
        })
}

/// A config: random top-level keys and, maybe, the servers table with random other servers.
fn config(spec: &'static ClientSpec) -> impl Strategy<Value = Value> {
    let toml = spec.format == Format::Toml;
    (
        proptest::collection::btree_map(key(), value(toml), 0..5),
        proptest::option::of(proptest::collection::btree_map(key(), server(toml), 0..4)),
    )
        .prop_map(move |(top, servers)| {
            let mut map: Map<String, Value> = top.into_iter().collect();
            map.remove(spec.servers_key);
            if let Some(servers) = servers {
                map.insert(
                    spec.servers_key.into(),
                    Value::Object(servers.into_iter().collect()),
                );
            }
            Value::Object(map)
        })
}

/// The config as text, with comments sprinkled in where the format allows them.
fn render(spec: &ClientSpec, config: &Value, comments: &[bool]) -> String {
    let mut flags = comments.iter().cycle();
    let mut out = String::new();
    match spec.format {
        Format::Json => return serde_json::to_string_pretty(config).unwrap(),
        Format::Jsonc | Format::JsonComments => {
            for line in serde_json::to_string_pretty(config).unwrap().lines() {
                out.push_str(line);
                out.push('\n');
                if line.ends_with(['{', '[', ',']) && *flags.next().unwrap_or(&false) {
                    out.push_str("  // a note, kept\n");
                }
            }
        }
        Format::Toml => {
            for line in toml::to_string(config).unwrap().lines() {
                if line.starts_with('[') && *flags.next().unwrap_or(&false) {
                    out.push_str("# a note, kept\n");
                }
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn client() -> impl Strategy<Value = &'static ClientSpec> {
    (0..CLIENTS.len()).prop_map(|i| &CLIENTS[i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn install_keeps_everything_and_uninstall_gives_it_back(
        (spec, config, comments) in client().prop_flat_map(|spec| {
            (Just(spec), config(spec), proptest::collection::vec(any::<bool>(), 1..8))
        })
    ) {
        let sandbox = common::Sandbox::new();
        let text = render(spec, &config, &comments);
        let path = sandbox.write_client_file(spec, &text);
        let before = common::parsed(spec, &text);

        sandbox.session().install(spec, &InstallOptions::default()).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let after = common::parsed(spec, &written);
        for (k, v) in before.as_object().unwrap() {
            if k == spec.servers_key {
                for (name, entry) in v.as_object().unwrap() {
                    prop_assert_eq!(&after[k][name], entry, "server `{}` kept", name);
                }
            } else {
                prop_assert_eq!(&after[k], v, "key `{}` kept", k);
            }
        }
        prop_assert!(after[spec.servers_key][ENTRY].is_object(), "our entry added");
        if spec.format != Format::Json {
            prop_assert_eq!(
                written.matches("a note, kept").count(),
                text.matches("a note, kept").count(),
                "every comment kept"
            );
        }

        sandbox.session().uninstall(spec).unwrap();
        let back = common::parsed(spec, &std::fs::read_to_string(&path).unwrap());
        prop_assert_eq!(back, before);
    }
}
