//! Tests' HTTP servers on 127.0.0.1 (axum), for the clients of remote servers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

/// Serve `app` on 127.0.0.1; the URL of its `/mcp` and the task to abort.
pub async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}/mcp"), task)
}

/// A route answering every POST with `status`, `headers` and `body`.
pub fn answering(
    status: StatusCode,
    headers: Vec<(header::HeaderName, &'static str)>,
    body: &'static str,
) -> axum::Router {
    axum::Router::new().route(
        "/mcp",
        axum::routing::post(move || {
            let headers = headers.clone();
            async move {
                let mut response = (status, body).into_response();
                for (name, value) in headers {
                    response
                        .headers_mut()
                        .insert(name, HeaderValue::from_static(value));
                }
                response
            }
        }),
    )
}
