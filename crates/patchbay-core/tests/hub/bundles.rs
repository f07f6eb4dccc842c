//! `.mcpb` bundle files over the control API, as the window adds them (a file picked or dropped,
//! or the app opened with one): `/catalog/bundle` reads the file's entry, `/catalog/preview`
//! and `/catalog/add` take its path, through the same planning as `patchbay add --mcpb`. The
//! bundles are real zip files written here; nothing is started (entries are saved disabled) and
//! no secret is stored (the keychain is the end-to-end tests' part).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::harness::Home;

/// No registry is asked for a bundle; none can answer here anyway.
const OFFLINE: &str = "[catalog]\nregistries = [\"http://127.0.0.1:1\"]\n";

/// A manifest (0.3) for a node server named `name`, asking `units` (a default) and, when
/// `token`, a sensitive `token` put in the environment.
fn manifest(name: &str, token: bool) -> Value {
    let mut user_config = json!({
        "units": {"type": "string", "title": "Units", "description": "Units", "default": "metric"}
    });
    let mut env = json!({});
    if token {
        user_config["token"] = json!({"type": "string", "title": "Token", "description": "API token",
            "sensitive": true, "required": true});
        env["WEATHER_TOKEN"] = json!("${user_config.token}");
    }
    json!({
        "manifest_version": "0.3",
        "name": name,
        "version": "1.2.0",
        "description": "Weather for the tests",
        "author": {"name": "Ada"},
        "server": {
            "type": "node",
            "entry_point": "server/index.js",
            "mcp_config": {
                "command": "node",
                "args": ["${__dirname}/server/index.js", "--units", "${user_config.units}"],
                "env": env
            }
        },
        "compatibility": {"runtimes": {"node": ">=18"}},
        "user_config": user_config
    })
}

/// A zip file at `path` holding `entries` (name, contents).
fn zip_file(path: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
    let file = std::fs::File::create(path).expect("the bundle file is made");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    for (name, data) in entries {
        zip.start_file(*name, options).expect("an entry starts");
        std::io::Write::write_all(&mut zip, data).expect("an entry is written");
    }
    zip.finish().expect("the zip is finished");
    path.to_owned()
}

/// A bundle file `FILE.mcpb` in `dir` with `manifest` and its server.
fn bundle_file(dir: &Path, file: &str, manifest: &Value) -> PathBuf {
    let text = manifest.to_string();
    zip_file(
        &dir.join(format!("{file}.mcpb")),
        &[
            ("manifest.json", text.as_bytes()),
            ("server/index.js", b"console.log('weather')"),
        ],
    )
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// What is under the bundles directory (temporary directories included).
fn unpacked(home: &Home) -> Vec<String> {
    match std::fs::read_dir(home.bundle_dir()) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_file_shows_its_plan_and_is_unpacked_only_once_confirmed() {
    let home = Home::new(OFFLINE);
    let files = tempfile::tempdir().unwrap();
    let weather = bundle_file(files.path(), "weather", &manifest("weather", true));
    let hub = home.start().await;

    let (status, entry) = hub
        .api_post_json("catalog/bundle", &json!({ "path": text(&weather) }))
        .await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(
        (&entry["kind"], &entry["registry"], &entry["runtime"]),
        (&json!("bundle"), &json!("bundle"), &json!("node")),
        "a bundle, run by node: {entry}"
    );
    let asked: Vec<(&str, bool)> = (entry["questions"].as_array().unwrap().iter())
        .map(|q| (q["name"].as_str().unwrap(), q["secret"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        asked,
        [("units", false), ("token", true)],
        "its user_config in the manifest's order, the token secret: {entry}"
    );

    let request =
        json!({ "bundle": text(&weather), "answers": ["", "s3cret-value"], "disabled": true });
    let (status, plan) = hub.api_post_json("catalog/preview", &request).await;
    assert_eq!(status, 200, "{plan}");
    let dir = std::path::absolute(home.bundle_dir().join("weather")).unwrap();
    // The path as the command line shows it: quoted where it needs to be (Windows' `\`).
    let script = format!("{}/server/index.js", dir.display());
    assert_eq!(
        plan["command_line"],
        format!(
            "WEATHER_TOKEN=<from the keychain> node {} --units metric",
            patchbay_core::config::shell_quote(&script)
        ),
        "the exact command, the default taken, the secret's name only: {plan}"
    );
    assert_eq!(plan["secret_env"], json!(["WEATHER_TOKEN"]), "{plan}");
    assert_eq!(
        plan["env"],
        json!([]),
        "the token is not in the config's env: {plan}"
    );
    assert_eq!(plan["name"], "weather");
    let facts = &plan["bundle"];
    assert_eq!(facts["signature"], "unsigned", "{plan}");
    assert_eq!(facts["author"], "Ada", "{plan}");
    // The range held against this machine's node, and the version found said.
    let needs = facts["requirements"].as_array().expect("a list");
    assert_eq!(needs.len(), 1, "{plan}");
    let line = needs[0].as_str().unwrap_or_default();
    assert!(
        line.starts_with("node >=18 (found ") && line.ends_with(')'),
        "{line}"
    );
    assert_eq!(facts["dir"], text(&dir));
    assert_eq!(facts["file"], text(&weather));
    assert!(
        !plan.to_string().contains("s3cret-value"),
        "the secret's value is never answered: {plan}"
    );
    assert_eq!(
        unpacked(&home),
        Vec::<String>::new(),
        "a preview unpacks nothing"
    );

    let (status, refused) = hub.api_post_json("catalog/add", &request).await;
    assert_eq!(status, 400, "no yes, no add: {refused}");
    assert_eq!(
        unpacked(&home),
        Vec::<String>::new(),
        "nothing unpacked without a yes"
    );

    // No secret: the keychain is not this test's (the end-to-end test stores one).
    let plain = bundle_file(files.path(), "plain", &manifest("plain", false));
    let confirmed = json!({ "bundle": text(&plain), "answers": ["imperial"], "disabled": true,
        "confirmed": true });
    let (status, added) = hub.api_post_json("catalog/add", &confirmed).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        (&added["name"], &added["saved"]),
        (&json!("plain"), &json!(true))
    );
    let installed = home.bundle_dir().join("plain");
    assert!(
        installed.join("server/index.js").is_file() && installed.join("manifest.json").is_file(),
        "the bundle is unpacked to its directory"
    );
    assert_eq!(unpacked(&home), ["plain"], "no temporary directory left");
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        config.contains("[servers.plain]")
            && config.contains("bundle = {")
            && config.contains("--units")
            && config.contains("imperial"),
        "the entry, its answer and its bundle are in the config file:\n{config}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_bundle_or_not_absolute_is_refused_and_nothing_is_unpacked() {
    let home = Home::new(OFFLINE);
    let files = tempfile::tempdir().unwrap();
    let not_zip = files.path().join("notes.mcpb");
    std::fs::write(&not_zip, "just text").unwrap();
    let mut unknown = manifest("broken", false);
    unknown["manifest_version"] = json!("9.9");
    let broken = bundle_file(files.path(), "broken", &unknown);
    let escaping = zip_file(
        &files.path().join("escaping.mcpb"),
        &[
            (
                "manifest.json",
                manifest("escaping", false).to_string().as_bytes(),
            ),
            ("../outside.js", b"x"),
        ],
    );
    let hub = home.start().await;
    let cases = [
        ("weather.mcpb".to_owned(), "is not an absolute path"),
        (text(&files.path().join("none.mcpb")), "cannot read"),
        (text(&not_zip), "not an .mcpb bundle (not a zip file)"),
        (text(&broken), "manifest_version"),
        (text(&escaping), "../outside.js"),
    ];
    for (path, cause) in &cases {
        for (route, body) in [
            ("catalog/bundle", json!({ "path": path })),
            ("catalog/preview", json!({ "bundle": path })),
            ("catalog/add", json!({ "bundle": path, "confirmed": true })),
        ] {
            let (status, refused) = hub.api_post_json(route, &body).await;
            assert_eq!(status, 400, "{route} {path}: {refused}");
            let said = refused["error"].as_str().unwrap();
            assert!(
                said.starts_with("nothing was added") && said.contains(cause),
                "{route} {path}: the cause `{cause}` is said: {said}"
            );
        }
    }
    assert_eq!(unpacked(&home), Vec::<String>::new(), "nothing unpacked");
    assert_eq!(
        std::fs::read_to_string(home.config_file()).unwrap(),
        OFFLINE,
        "nothing saved"
    );
    hub.stop().await;
}
