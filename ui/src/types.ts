/**
 * The JSON shapes the hub returns, as the shell passes them on. Field names follow the serde
 * derives in `crates/patchbay-core/src` (snake_case); `Option<T>` without
 * `skip_serializing_if` arrives as `null`, with it the key may be absent.
 */

/** `supervisor::ServerState`, plus anything newer the hub may send. */
export type ServerStateWord =
  | 'starting'
  | 'running'
  | 'restarting'
  | 'stopped'
  | 'needs_sign_in'
  | 'idle';

/** `supervisor::ServerStatus`. A remote server's `command` is its URL. */
export interface ServerStatus {
  name: string;
  state: ServerStateWord | (string & {});
  pid: number | null;
  uptime_secs: number | null;
  tools: number;
  restarts: number;
  retry_in_ms: number | null;
  /** `"disabled"` for a server disabled in the config (with state `stopped`). */
  last_error: string | null;
  /** The exact command line, or a remote server's URL. */
  command: string;
  kind: 'stdio' | 'remote';
  /** Enabled in the config. */
  enabled: boolean;
}

/** `control::HubStatus`. */
export interface HubStatus {
  version: string;
  pid: number;
  config_file: string;
  servers: ServerStatus[];
}

/** `control::ToolEntry`. */
export interface ToolEntry {
  name: string;
  server: string;
  original: string;
  description: string | null;
}

/** `events::CallRecord`. */
export interface CallRecord {
  started_ms: number;
  server: string;
  tool: string;
  client: string | null;
  duration_ms: number;
  /** `ok`, `tool_error`, `error` or `cancelled`. */
  outcome: string;
}

/** `oauth::Stage`. */
export type Stage =
  | 'discovering'
  | 'registering'
  | 'waiting_for_browser'
  | 'exchanging'
  | 'verifying'
  | 'done'
  | 'failed'
  | 'cancelled';

/** `oauth::Progress`. */
export interface Progress {
  stage: Stage | (string & {});
  message: string;
  url?: string | null;
}

/** `oauth::connect::Connected`. */
export interface Connected {
  server: string;
  url: string;
  /** `none`, `oauth` or `header`. */
  auth: string;
  scopes: string[];
  issuer: string | null;
  added: boolean;
}

/** `hub::signin::FlowView`. */
export interface FlowView {
  flow: string;
  server: string;
  progress: Progress[];
  finished: boolean;
  connected?: Connected | null;
  error?: string | null;
  hint?: string | null;
  cancelled?: boolean;
}

/** `oauth::TokenState`. */
export type TokenStateWord =
  | 'none'
  | 'header'
  | 'valid'
  | 'expiring'
  | 'refreshing'
  | 'needs_sign_in'
  | 'revoked';

/** `oauth::keeper::TokenStatus`: never a token. */
export interface TokenStatus {
  server: string;
  url: string;
  state: TokenStateWord | (string & {});
  issuer: string | null;
  client_id: string | null;
  scopes: string[];
  /** Unix seconds. */
  expires_at: number | null;
  expires_in: number | null;
  refresh_token: boolean;
  header: string | null;
  message: string | null;
  /** What can be done now: the hub decides (`oauth::keeper::TokenActions`). */
  actions: TokenActions;
}

/** `oauth::keeper::TokenActions`. */
export interface TokenActions {
  refresh: boolean;
  revoke: boolean;
  sign_in: boolean;
}

/** `oauth::keeper::Revoked`. */
export interface Revoked {
  server: string;
  at_provider: boolean;
  deleted: boolean;
  note: string | null;
}

/** `clients::EntryState`. */
export type EntryState = 'intact' | 'changed' | 'missing' | 'not_installed';

/** `clients::ClientStatus` (as `patchbay clients --json`). */
export interface ClientStatus {
  id: string;
  name: string;
  path: string;
  format: string;
  detected: boolean;
  installed: boolean;
  entry: EntryState | (string & {});
  mode: 'bridge' | 'direct' | null;
  direct: boolean;
  tool_limit: number | null;
  profile: string | null;
  error: string | null;
  /**
   * What the user does after a change (`ClientSpec::reload`, e.g. "quit Claude Desktop
   * completely and start it again"). Shown when present.
   */
  reload?: string | null;
  /**
   * How many tools this client's entry is served (the profile's when it has one), counted by
   * the hub; null when the hub could not count them (the profile is gone). Without it the UI
   * counts every enabled server's tools, and only for clients installed without a profile.
   */
  served_tools?: number | null;
  /**
   * The profile the hub suggests when the entry is served more tools than the client takes
   * (`profile::fitting`: the one serving the most within the limit, never the current one);
   * null within the limit or when none fits.
   */
  fitting_profile?: FittingProfile | null;
}

/** `clients::FittingProfile`: a profile suggested to a client over its tool limit. */
export interface FittingProfile {
  name: string;
  served_tools: number;
}

/** `profile::ProfileStatus`: one profile as the hub serves it (`GET /api/v1/profiles`). */
export interface ProfileStatus {
  name: string;
  /** The servers it names; empty: every server. */
  servers: string[];
  /** Its tool patterns (`!` excludes); empty: every tool of those servers. */
  tools: string[];
  /** Servers it names that are not configured (ignored until they are). */
  unknown_servers: string[];
  /** How many tools it serves now. */
  served_tools: number;
  /** Its endpoint on the hub, `/p/NAME/mcp`. */
  path: string;
  problem: string | null;
}

/** What `install_client`, `uninstall_client` and `restore_client` answer; every field optional
 * because the shell decides the shape. */
export interface ClientChange {
  path?: string | null;
  /** `false` when nothing needed changing. */
  changed?: boolean | null;
  /** The client's reload instruction. */
  reload?: string | null;
  /** A sentence for the user. */
  message?: string | null;
}

/** The stdio server the add form describes (`preview_server` / `add_server` arguments). */
export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | null;
}

/** `start_connect` arguments (camelCase on the JS side; the shell maps them to ConnectRequest). */
export interface ConnectArgs {
  url: string;
  name?: string;
  clientId?: string;
  scopes?: string[];
}

/** How the shell rejects a command. */
export interface ApiError {
  code: string;
  message: string;
}

/** `events::HubEvent`: internally tagged by `kind`. */
export type HubEvent =
  | { kind: 'server_state'; server: string; state: string; error?: string | null }
  | { kind: 'catalog_changed' }
  | { kind: 'config_applied' }
  | { kind: 'config_error'; message: string }
  | ({ kind: 'tool_call' } & CallRecord)
  | { kind: 'client_drift'; client: string; path: string; entry: string }
  | ({ kind: 'sign_in'; flow: string; server: string } & Progress)
  | { kind: 'token_state'; server: string; state: string; message?: string | null }
  /** The shell's bridge missed events (SSE `lagged`): re-read everything. */
  | { kind: 'lagged' };
