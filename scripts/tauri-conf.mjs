// Writes src-tauri/tauri.conf.json, the copy of the root tauri.conf.json that the Tauri CLI reads.
//
// The CLI takes the folder of its config file for the app's crate and wants a `[package]` there;
// the root Cargo.toml is the workspace, so the CLI is pointed at src-tauri/ (TAURI_APP_PATH) and
// reads this copy. The CLI resolves paths from src-tauri/, the app's build script (tauri-build,
// `config_path("../tauri.conf.json")`) from the root: the copy carries the root's paths made
// relative to src-tauri/, plus the sidecar (`binaries/patchbay-<triple>`, which only a bundle
// needs, so the root config does not name it and a plain `cargo build` works without it).
// The copy is generated, ignored by git, and written again on every build.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const conf = JSON.parse(readFileSync(join(repo, "tauri.conf.json"), "utf8"));
const fromAppDir = (path) => `../${path}`;

conf.build.frontendDist = fromAppDir(conf.build.frontendDist);
conf.bundle.icon = conf.bundle.icon.map(fromAppDir);
conf.bundle.linux.deb.desktopTemplate = fromAppDir(conf.bundle.linux.deb.desktopTemplate);
conf.bundle.linux.deb.files = Object.fromEntries(
  Object.entries(conf.bundle.linux.deb.files ?? {}).map(([target, source]) => [target, fromAppDir(source)]),
);
conf.bundle.externalBin = ["binaries/patchbay"];

writeFileSync(join(repo, "src-tauri", "tauri.conf.json"), `${JSON.stringify(conf, null, 2)}\n`);
