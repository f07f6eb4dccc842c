// A 2025-11-25 session client that runs a tool as a task: the TypeScript SDK's `Client`
// (`client.experimental.tasks`), as the test peers install it. It calls TOOL with ARGS
// through `callToolStream`, which makes the call a task when the tool's `execution` says so,
// polls `tasks/get` and fetches `tasks/result`; an elicitation during the task is accepted
// with {"interpretation": "historical"}. With HOLD_MS, it waits that long after the task is
// made (no request in flight), having printed `created <id>` on a line of its own.
// Prints one JSON line: what it saw.
//
//   node tasks_client.mjs PEERS URL SECRET TOOL ARGS-JSON [HOLD_MS]
import { pathToFileURL } from 'node:url';

const [peers, url, secret, tool, args, holdMs] = process.argv.slice(2);
const sdk = (path) =>
    import(pathToFileURL(`${peers}/node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`).href);
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { ElicitRequestSchema } = await sdk('types.js');

const client = new Client({ name: 'tasks-client', version: '1.0.0' }, { capabilities: { elicitation: {} } });
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params.message);
    return { action: 'accept', content: { interpretation: 'historical' } };
});
const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${secret}` } },
});
await client.connect(transport);
const seen = { capabilities: client.getServerCapabilities(), asked, events: [] };
seen.execution = (await client.listTools()).tools.find((t) => t.name === tool)?.execution ?? null;
const stream = client.experimental.tasks.callToolStream({ name: tool, arguments: JSON.parse(args) });
for await (const message of stream) {
    if (message.type === 'error') {
        seen.events.push({ type: 'error', message: String(message.error?.message ?? message.error) });
        continue;
    }
    seen.events.push(message);
    if (message.type === 'taskCreated') {
        seen.listed = (await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);
        if (holdMs) {
            console.log(`created ${message.task.taskId}`);
            await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
        }
    }
}
await transport.terminateSession().catch(() => {});
await client.close();
console.log(JSON.stringify(seen));
