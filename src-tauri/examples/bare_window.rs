//! A bare Tauri window: the yardstick the benchmark (`scripts/bench --app`) holds the app's open
//! window against. The same Tauri, WebKitGTK and build profile as the app, one window showing a
//! one-line page, no tray, no plugins, no commands. The page comes from a custom URI scheme, the
//! mechanism Tauri serves the app's own pages with (data URLs would need a Tauri feature the app
//! does not build with, and `about:blank` starts no web process at all).

const PAGE: &str = "<!doctype html><title>bare</title><p>A bare Tauri window.</p>";

fn main() {
    tauri::Builder::default()
        .register_uri_scheme_protocol("bare", |_ctx, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html; charset=utf-8")
                .body(PAGE.as_bytes().to_vec())
                .expect("a response")
        })
        .setup(|app| {
            let url = "bare://localhost/".parse().expect("a URL");
            tauri::WebviewWindowBuilder::new(app, "bare", tauri::WebviewUrl::External(url))
                .title("bare")
                .inner_size(1040.0, 720.0)
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("a bare Tauri window");
}
