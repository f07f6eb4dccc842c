//! `patchbay-bench-server`: a small, quick stdio MCP server for the `tools/list` rows.
//!
//! Twenty tools, `tool_00` to `tool_19`, each taking one string `message` and answering with it.
//! Nothing else: it starts in milliseconds and costs little memory, so a hub configured with fifty
//! copies measures the hub's catalogue, not the servers. `--tools N` offers N tools instead (the
//! benchmark's direct reference for a listing as large as fifty copies behind the hub).

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::{RequestContext, RoleServer, ServiceExt};

/// How many tools a copy offers unless `--tools N` says otherwise.
const DEFAULT_TOOLS: usize = 20;

struct BenchServer {
    tools: Vec<Tool>,
}

impl BenchServer {
    fn new(count: usize) -> Self {
        let schema: Arc<serde_json::Map<String, serde_json::Value>> = Arc::new(
            serde_json::json!({
                "type": "object",
                "properties": {
                    "message": { "type": "string", "description": "Text to send back" }
                },
                "required": ["message"]
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        );
        let tools = (0..count)
            .map(|i| {
                Tool::new(
                    format!("tool_{i:02}"),
                    format!("Benchmark tool {i}: answers with the message it is given"),
                    schema.clone(),
                )
            })
            .collect();
        Self { tools }
    }
}

impl ServerHandler for BenchServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "patchbay-bench-server",
                env!("CARGO_PKG_VERSION"),
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tools.iter().any(|t| t.name == request.name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        }
        let message = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("message"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(message)]).into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let count = match (args.next().as_deref(), args.next()) {
        (None, _) => DEFAULT_TOOLS,
        (Some("--tools"), Some(n)) => n.parse()?,
        _ => anyhow::bail!("usage: patchbay-bench-server [--tools N]"),
    };
    let service = BenchServer::new(count)
        .serve((tokio::io::stdin(), tokio::io::stdout()))
        .await?;
    service.waiting().await?;
    Ok(())
}
