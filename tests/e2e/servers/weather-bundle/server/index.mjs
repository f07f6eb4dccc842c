// The test bundle's server: one tool, `started_with`, answering what it was started with (its
// arguments, working directory and environment), the token only by its SHA-256 so that the
// secret itself never travels back through the hub.
import { createHash } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "weather-bundle", version: "1.0.0" });
server.registerTool(
  "started_with",
  { description: "What the server was started with" },
  async () => {
    const token = process.env.WEATHER_TOKEN ?? "";
    const report = {
      args: process.argv.slice(2),
      cwd: process.cwd(),
      home: process.env.WEATHER_HOME ?? null,
      token_sha256: token ? createHash("sha256").update(token).digest("hex") : null,
    };
    return { content: [{ type: "text", text: JSON.stringify(report) }] };
  },
);
await server.connect(new StdioServerTransport());
