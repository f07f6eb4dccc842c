#!/usr/bin/env node
// The OAuth authorization server of the test bed: a real `oidc-provider` set up the way an MCP
// authorization server is expected to be (PKCE S256 required, dynamic client registration,
// resource indicators with audience = the MCP server URL, rotating refresh tokens, RFC 7009
// revocation, RFC 7662 introspection for the resource server, `iss` in authorization responses),
// plus hooks that only tests need:
//
//   - an event log (JSONL file and GET /test/events) of registrations, token grants, refresh
//     token consumption, revocations and introspections; token values never appear in it, only
//     `fp` fingerprints (first 16 hex digits of sha256 of the value);
//   - switches for adversarial runs (POST /test/control with a JSON object, or the same names
//     as command line flags at start-up): see CONTROL_DEFAULTS below.
//
// Listens on 127.0.0.1 only. When ready, prints one JSON line on stdout:
//   {"ready": true, "issuer": "...", "port": N, "pid": N}
//
// Usage: node authz_server.mjs [--port N | --listen-fd FD] [--issuer-path /t1] [--events FILE]
//          [--access-token-ttl S] [--refresh-token-ttl S] [--static-client ID[:SECRET]]...
//          [--cc-client ID:SECRET]... [--cc-jwt-client ID=PUBLIC_JWKS_FILE]...
//          [--rs-client ID:SECRET] [--no-s256] [--wrong-iss URL] [--no-rotation]
// Environment: PATCHBAY_PEERS (where node_modules lives, default <repo>/.cache/peers).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const peers = process.env.PATCHBAY_PEERS || path.join(here, '..', '..', '.cache', 'peers');
const { default: Provider, errors } = await import(
  pathToFileURL(path.join(peers, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'listen-fd': { type: 'string' }, // a listening 127.0.0.1 socket handed over by the caller
    'issuer-path': { type: 'string', default: '' },
    events: { type: 'string' },
    'access-token-ttl': { type: 'string', default: '3600' },
    'refresh-token-ttl': { type: 'string', default: String(14 * 24 * 3600) },
    'static-client': { type: 'string', multiple: true, default: [] },
    'cc-client': { type: 'string', multiple: true, default: [] },
    'cc-jwt-client': { type: 'string', multiple: true, default: [] },
    'rs-client': { type: 'string' },
    'no-s256': { type: 'boolean', default: false },
    'no-rotation': { type: 'boolean', default: false },
    'wrong-iss': { type: 'string' },
    'no-rfc8414': { type: 'boolean', default: false },
  },
});

// The scopes every MCP resource served by this bed knows; `mcp:admin` is the "wider" one.
const RESOURCE_SCOPES = 'mcp:tools mcp:admin';

// Runtime switches. POST /test/control merges a JSON object into this; GET returns it.
const CONTROL_DEFAULTS = {
  access_token_ttl: Number(args['access-token-ttl']), // seconds, read at each issuance
  // lifetime of access tokens issued by a refresh (null: access_token_ttl), so that a test can
  // sign in with a short-lived token and have every refreshed one outlive the test, race-free
  refresh_access_token_ttl: null,
  refresh_token_ttl: Number(args['refresh-token-ttl']),
  rotate_refresh_tokens: !args['no-rotation'],
  // code_challenge_methods_supported in the metadata: "S256" (normal), "absent", or "plain"
  pkce_metadata: args['no-s256'] ? 'absent' : 'S256',
  wrong_iss: args['wrong-iss'] || null, // replaces `iss` in authorization responses
  // the next `count` token requests (of `grant_type`, when given) fail with `error`:
  // "server_error" answers 500, any other OAuth error code answers 400 with that code
  token_failures: { count: 0, error: 'server_error', grant_type: null },
  // token requests (of `grant_type`, when given) are answered only after `seconds`: a refresh
  // that is still under way when a test's requests arrive
  token_delay: { seconds: 0, grant_type: null },
  // ignore the requested scope and grant only this (e.g. "mcp:tools"), or null
  downscope: null,
  // metadata fields to leave out, e.g. ["revocation_endpoint"] or ["registration_endpoint"]
  metadata_omit: [],
  // metadata fields to replace, e.g. {"authorization_endpoint": "javascript:alert(1)"} (what a
  // hostile or broken authorization server could advertise; the provider itself is unchanged)
  metadata_override: {},
  // refresh responses without `refresh_token` (pair with rotate_refresh_tokens: false)
  refresh_omits_refresh_token: false,
  serve_rfc8414: !args['no-rfc8414'], // /.well-known/oauth-authorization-server as well
};
const control = structuredClone(CONTROL_DEFAULTS);

// --- event log -------------------------------------------------------------------------------

const events = [];
const eventsFile = args.events ? fs.openSync(args.events, 'a') : null;
let seq = 0;

function fp(value) {
  return value ? crypto.createHash('sha256').update(String(value)).digest('hex').slice(0, 16) : undefined;
}

function record(type, fields = {}) {
  const event = { seq: ++seq, t: Date.now() / 1000, type, ...fields };
  for (const key of Object.keys(event)) if (event[key] === undefined) delete event[key];
  events.push(event);
  if (eventsFile !== null) fs.writeSync(eventsFile, `${JSON.stringify(event)}\n`);
}

// --- provider --------------------------------------------------------------------------------

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  if (args['listen-fd'] !== undefined) server.listen({ fd: Number(args['listen-fd']) }, resolve);
  else server.listen(Number(args.port), '127.0.0.1', resolve);
});
const { address, port } = server.address();
if (address !== '127.0.0.1') throw new Error(`refusing to serve on ${address}: 127.0.0.1 only`);
const origin = `http://127.0.0.1:${port}`;
const issuerPath = args['issuer-path'].replace(/\/$/, '');
const issuer = `${origin}${issuerPath}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bed-rs256', use: 'sig', alg: 'RS256' };

function parseClient(spec, extra) {
  const [clientId, secret] = spec.split(':');
  return {
    client_id: clientId,
    ...(secret
      ? { client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }
      : { token_endpoint_auth_method: 'none' }),
    ...extra,
  };
}

const clients = args['static-client'].map((spec) => parseClient(spec, {
  application_type: 'native',
  // a native client's loopback redirect matches on any port (RFC 8252 section 7.3)
  redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
}));
// Client credentials grant clients (no redirect, no refresh token): `ID:SECRET` authenticates
// with client_secret_basic, `ID=JWKS_FILE` with private_key_jwt against the public keys there.
for (const spec of args['cc-client']) {
  clients.push(parseClient(spec, { redirect_uris: [], grant_types: ['client_credentials'], response_types: [] }));
}
for (const spec of args['cc-jwt-client']) {
  const [clientId, jwksFile] = spec.split('=');
  clients.push({
    client_id: clientId,
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: JSON.parse(fs.readFileSync(jwksFile, 'utf8')),
    redirect_uris: [], grant_types: ['client_credentials'], response_types: [],
  });
}
if (args['rs-client']) {
  clients.push(parseClient(args['rs-client'], {
    redirect_uris: [], grant_types: [], response_types: [],
  }));
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  // the resource scopes are listed too: clients register with them (RFC 7591 `scope`)
  scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES.split(' ')],
  responseTypes: ['code'],
  pkce: { required: () => true },
  clientBasedCORS: () => false,
  features: {
    devInteractions: { enabled: true }, // the login and consent forms the scripted browser posts
    clientCredentials: { enabled: true },
    registration: { enabled: true, initialAccessToken: false },
    revocation: {
      enabled: true,
      // a client revokes only its own tokens; someone else's is silently ignored (RFC 7009 2.2)
      allowedPolicy: (ctx, client, token) => token.clientId === client.clientId,
    },
    introspection: {
      enabled: true,
      // the resource server (a confidential client) introspects any token; a client its own
      allowedPolicy: (ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
    },
    userinfo: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (!/^https?:\/\//.test(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: control.downscope ?? RESOURCE_SCOPES,
          audience: resourceIndicator,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => control.rotate_refresh_tokens,
  expiresWithSession: () => false,
  ttl: {
    AccessToken: (ctx) => (
      ctx?.oidc?.params?.grant_type === 'refresh_token' && control.refresh_access_token_ttl != null
        ? control.refresh_access_token_ttl
        : control.access_token_ttl
    ),
    RefreshToken: () => control.refresh_token_ttl,
    ClientCredentials: () => control.access_token_ttl,
    Grant: () => 14 * 24 * 3600,
    Session: () => 14 * 24 * 3600,
    Interaction: () => 3600,
    IdToken: () => 3600,
  },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  renderError: (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('registration_create.success', (ctx, client) => record('registration', {
  client_id: client.clientId,
  token_endpoint_auth_method: client.tokenEndpointAuthMethod,
  application_type: client.applicationType,
  redirect_uris: client.redirectUris,
  grant_types: client.grantTypes,
}));
provider.on('authorization.success', (ctx) => record('authorization', {
  client_id: ctx.oidc.client?.clientId,
  scope: ctx.oidc.params.scope,
  resource: ctx.oidc.params.resource,
  code_challenge_method: ctx.oidc.params.code_challenge_method,
}));
provider.on('authorization.error', (ctx, error) => record('authorization_error', {
  client_id: ctx.oidc?.client?.clientId,
  error: error.error,
  error_description: error.error_description,
}));
provider.on('refresh_token.consumed', (token) => record('refresh_token_consumed', {
  client_id: token.clientId, fp: fp(token.jti),
}));
provider.on('refresh_token.destroyed', (token) => record('refresh_token_destroyed', {
  client_id: token.clientId, fp: fp(token.jti),
}));
provider.on('grant.revoked', (ctx, grantId) => record('grant_revoked', { grant: fp(grantId) }));
provider.on('server_error', (ctx, error) => record('server_error', { message: String(error?.message) }));

// --- test hooks, in front of the provider ----------------------------------------------------

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

// Changes the authorization server metadata documents as the switches say.
function rewriteMetadata(body) {
  const doc = JSON.parse(body);
  if (control.pkce_metadata === 'absent') delete doc.code_challenge_methods_supported;
  if (control.pkce_metadata === 'plain') doc.code_challenge_methods_supported = ['plain'];
  for (const name of control.metadata_omit) delete doc[name];
  Object.assign(doc, control.metadata_override);
  return JSON.stringify(doc);
}

// Runs the provider on a request whose body was read already (the provider accepts `req.body`).
function callProvider(req, res, { body, onEnd } = {}) {
  if (body !== undefined) req.body = body;
  if (onEnd) {
    const chunks = [];
    const { write, end } = res;
    res.write = (chunk, ...rest) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      return true;
    };
    res.end = (chunk, ...rest) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
      const out = onEnd(res.statusCode, Buffer.concat(chunks).toString('utf8'));
      res.removeHeader('content-length');
      write.call(res, out);
      return end.call(res);
    };
  }
  providerCallback(req, res);
}

const providerCallback = provider.callback();

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

async function handle(req, res) {
  const url = new URL(req.url, origin);
  const p = url.pathname;

  if (p === '/test/events' && req.method === 'GET') {
    const since = Number(url.searchParams.get('since') || 0);
    return sendJson(res, 200, events.filter((e) => e.seq > since));
  }
  if (p === '/test/control') {
    if (req.method === 'POST') {
      const patch = parseJson(await readBody(req));
      if (patch.reset) Object.assign(control, structuredClone(CONTROL_DEFAULTS));
      delete patch.reset;
      for (const [key, value] of Object.entries(patch)) {
        if (!(key in CONTROL_DEFAULTS)) return sendJson(res, 400, { error: `unknown switch \`${key}\`` });
        const partial = ['token_failures', 'token_delay'].includes(key);
        control[key] = partial ? { ...CONTROL_DEFAULTS[key], ...value } : value;
      }
      record('control', { control: structuredClone(control) });
    }
    return sendJson(res, 200, control);
  }

  // Authorization server metadata at every place RFC 8414 and OpenID discovery put it.
  const wellKnown = [
    ...(control.serve_rfc8414
      ? [`/.well-known/oauth-authorization-server${issuerPath}`]
      : []),
    `/.well-known/openid-configuration${issuerPath}`,
    `${issuerPath}/.well-known/openid-configuration`,
  ];
  if (req.method === 'GET' && wellKnown.includes(p)) {
    record('metadata', { path: p });
    req.url = `${issuerPath}/.well-known/openid-configuration`;
  }

  // The provider lives under the issuer's path.
  if (issuerPath) {
    if (!(req.url === issuerPath || req.url.startsWith(`${issuerPath}/`) || req.url.startsWith(`${issuerPath}?`))) {
      return sendJson(res, 404, { error: 'not_found' });
    }
    req.originalUrl = req.url;
    req.url = req.url.slice(issuerPath.length) || '/';
  }
  const route = new URL(req.url, origin).pathname;

  if (route === '/.well-known/openid-configuration') {
    return callProvider(req, res, { onEnd: (status, body) => (status === 200 ? rewriteMetadata(body) : body) });
  }

  if ((route === '/auth' || route.startsWith('/auth/')) && control.wrong_iss) {
    const { writeHead } = res;
    res.writeHead = (status, ...rest) => {
      const location = res.getHeader('location');
      if (location && /[?&#]iss=/.test(location)) {
        const target = new URL(location);
        const params = target.hash ? new URLSearchParams(target.hash.slice(1)) : target.searchParams;
        params.set('iss', control.wrong_iss);
        if (target.hash) target.hash = params.toString();
        res.setHeader('location', target.href);
      }
      return writeHead.call(res, status, ...rest);
    };
  }

  if (route === '/token' && req.method === 'POST') {
    const body = await readBody(req);
    const params = new URLSearchParams(body);
    const grantType = params.get('grant_type');
    const presented = params.get('refresh_token') || undefined;
    const failures = control.token_failures;
    const delay = control.token_delay;
    const delayed = delay.seconds > 0 && (!delay.grant_type || delay.grant_type === grantType);
    if (delayed) await new Promise((resolve) => { setTimeout(resolve, delay.seconds * 1000); });
    const base = {
      grant_type: grantType,
      client_id: params.get('client_id') || undefined,
      resource: params.get('resource') || undefined,
      scope: params.get('scope') || undefined,
      presented_fp: fp(presented),
      has_code_verifier: params.has('code_verifier'),
      auth_header: req.headers.authorization ? req.headers.authorization.split(' ')[0] : undefined,
      client_assertion_type: params.get('client_assertion_type') || undefined,
      delayed: delayed ? delay.seconds : undefined,
    };
    if (failures.count > 0 && (!failures.grant_type || failures.grant_type === grantType)) {
      failures.count -= 1;
      const status = failures.error === 'server_error' ? 500 : 400;
      record('token', { ...base, status, error: failures.error, injected: true });
      return sendJson(res, status, { error: failures.error, error_description: 'injected by the test bed' });
    }
    return callProvider(req, res, {
      body,
      onEnd: (status, out) => {
        const parsed = parseJson(out);
        let sent = out;
        if (status === 200 && grantType === 'refresh_token' && control.refresh_omits_refresh_token) {
          const { refresh_token: omitted, ...rest } = parsed;
          sent = JSON.stringify(rest);
        }
        record('token', {
          ...base,
          status,
          error: parsed.error,
          error_description: parsed.error_description,
          issued_fp: fp(parsed.access_token),
          refresh_fp: fp(parsed.refresh_token),
          expires_in: parsed.expires_in,
          granted_scope: parsed.scope,
          refresh_token_omitted: sent !== out || undefined,
        });
        return sent;
      },
    });
  }

  if (route === '/token/revocation' && req.method === 'POST') {
    const body = await readBody(req);
    const params = new URLSearchParams(body);
    return callProvider(req, res, {
      body,
      onEnd: (status, out) => {
        const parsed = parseJson(out);
        record('revocation', {
          status,
          error: parsed.error,
          fp: fp(params.get('token')),
          token_type_hint: params.get('token_type_hint') || undefined,
          client_id: params.get('client_id') || undefined,
        });
        return out;
      },
    });
  }

  if (route === '/token/introspection' && req.method === 'POST') {
    const body = await readBody(req);
    const params = new URLSearchParams(body);
    return callProvider(req, res, {
      body,
      onEnd: (status, out) => {
        const parsed = parseJson(out);
        record('introspection', {
          status, active: parsed.active, fp: fp(params.get('token')), aud: parsed.aud,
        });
        return out;
      },
    });
  }

  if (route === '/reg' && req.method === 'POST') {
    // A registered `scope` would cap what the client may ask for later (oidc-provider enforces
    // it), which would forbid a step-up to a wider scope: like many MCP authorization servers,
    // this one ignores it.
    let body = await readBody(req);
    const metadata = parseJson(body);
    if (metadata.scope !== undefined) {
      record('registration_scope_ignored', { scope: metadata.scope });
      delete metadata.scope;
      body = JSON.stringify(metadata);
    }
    return callProvider(req, res, {
      body,
      onEnd: (status, out) => {
        if (status >= 400) record('registration_error', { status, ...parseJson(out) });
        return out;
      },
    });
  }

  return callProvider(req, res);
}

server.on('request', (req, res) => {
  handle(req, res).catch((error) => {
    record('server_error', { message: String(error?.message) });
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(error?.message) });
    else res.destroy();
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}

process.stdout.write(`${JSON.stringify({ ready: true, issuer, port, pid: process.pid })}\n`);
