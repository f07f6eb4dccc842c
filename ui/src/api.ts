/**
 * The only door to the shell: every Tauri command the window calls, and the `hub-event`
 * stream. Nothing else imports `@tauri-apps/api`.
 *
 * Commands take camelCase arguments (Tauri maps them to the Rust handlers' snake_case
 * parameters); one whose hub route takes a body takes the Rust type for it whole, as `server`
 * ({@link NewServer}) or `request` ({@link ConnectRequest}, {@link InstallRequest},
 * {@link RestoreRequest}), with that type's snake_case fields. They reject with
 * `{code, message}`; every function here rejects with an {@link ApiError} whatever the shell
 * threw, so views can show `message` as it is.
 *
 * Answers are normalised where the shell may reasonably wrap them (a flow id as a string or as
 * `{flow}`, a log tail as lines or as `{server, lines}`), so the views see one shape.
 */
import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';

import { toApiError } from './logic/errors';
import { parseHubEvent } from './logic/events';
import { dropPaths, parseOpened } from './logic/opened';
import type { Opened } from './logic/opened';
import { type AppUpdateState, parseUpdateState } from './logic/updates';
import type {
  AcceptToolChanges,
  ApiError,
  CallRecord,
  CatalogEntry,
  CatalogPlan,
  CatalogRequest,
  CatalogSearch,
  ClientChange,
  ClientStatus,
  ConnectRequest,
  FlowView,
  HubEvent,
  HubStatus,
  InstallRequest,
  NewServer,
  ProfileStatus,
  RestoreRequest,
  Revoked,
  ServerAdded,
  ServerStatus,
  TokenStatus,
  ToolChange,
  ToolEntry,
} from './types';

/** The Tauri event carrying hub events. */
export const HUB_EVENT = 'hub-event';

/** The Tauri event turning the window to a page (the tray's "Review tool changes…"). */
export const SHOW_PAGE_EVENT = 'show-page';

/** The Tauri event saying an install link or a bundle file was opened ({@link api.takeOpened}
 * reads it). */
export const OPENED_EVENT = 'opened';

/** Tauri's event of files dropped onto the window (`{paths, position}`). */
export const DRAG_DROP_EVENT = 'tauri://drag-drop';

/** The event carrying the app's update state (`src-tauri/src/updates.rs`). */
export const APP_UPDATE_EVENT = 'app-update';

/** What the API needs from the shell: one call, one subscription. */
export interface Transport {
  invoke(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Subscribe; resolves to the unsubscribe function. */
  listen(event: string, handler: (payload: unknown) => void): Promise<() => void>;
}

const tauri: Transport = {
  invoke: (command, args) => tauriInvoke(command, args),
  listen: (event, handler) => tauriListen(event, (e) => handler(e.payload)),
};

/** Whether the page runs inside the Tauri shell. */
export function inShell(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

let transport: Transport | Promise<Transport> = tauri;

// In `vite dev` outside the shell only: an in-memory hub to click through. `import.meta.env.DEV`
// is the constant `false` in a production build, so this branch and the mock module are dropped.
// Tests set their own transport.
if (import.meta.env.DEV && import.meta.env.MODE !== 'test' && !inShell()) {
  transport = import('./dev-mock').then((m) => m.mockTransport());
}

/** Use another transport (tests). */
export function setTransport(t: Transport): void {
  transport = t;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    const t = await transport;
    return (await t.invoke(command, args)) as T;
  } catch (err) {
    throw toApiError(err);
  }
}

/** A flow id, whether the shell answers `"abc"` or `{flow: "abc"}`. */
export function flowId(answer: unknown): string {
  if (typeof answer === 'string' && answer) return answer;
  if (answer && typeof answer === 'object') {
    const flow = (answer as { flow?: unknown }).flow;
    if (typeof flow === 'string' && flow) return flow;
  }
  throw { code: 'bad_answer', message: 'the shell answered without a sign-in id' } satisfies ApiError;
}

/** Log lines, whether the shell answers `[..]`, `{lines: [..]}` or one string. */
export function logLines(answer: unknown): string[] {
  if (Array.isArray(answer)) return answer.map(String);
  if (typeof answer === 'string') return answer === '' ? [] : answer.split('\n');
  if (answer && typeof answer === 'object') {
    const lines = (answer as { lines?: unknown }).lines;
    if (Array.isArray(lines)) return lines.map(String);
  }
  return [];
}

/** The command line of a preview, whether the shell answers `{command_line}` or a string. */
export function commandLine(answer: unknown): string {
  if (typeof answer === 'string') return answer;
  if (answer && typeof answer === 'object') {
    const line = (answer as { command_line?: unknown }).command_line;
    if (typeof line === 'string') return line;
  }
  throw { code: 'bad_answer', message: 'the shell answered without a command line' } satisfies ApiError;
}

/** An install request with only what differs from the hub's defaults (no profile, the bridge). */
function installRequest({ profile, direct }: InstallRequest): InstallRequest {
  return { ...(profile ? { profile } : {}), ...(direct ? { direct: true } : {}) };
}

export const api = {
  hubStatus: () => call<HubStatus>('hub_status'),
  listServers: () => call<ServerStatus[]>('list_servers'),
  /** The exact command line `server` would run; nothing is saved. */
  previewServer: async (server: NewServer) => commandLine(await call('preview_server', { server })),
  addServer: (server: NewServer) => call<ServerAdded>('add_server', { server }),
  removeServer: (name: string) => call<unknown>('remove_server', { name }),
  setServerEnabled: (name: string, enabled: boolean) =>
    call<unknown>('set_server_enabled', { name, enabled }),
  serverLogs: async (name: string, lines: number) => logLines(await call('server_logs', { name, lines })),
  serverTools: (name: string) => call<ToolEntry[]>('server_tools', { name }),
  /** The tools held back because their server changed them since they were accepted. */
  toolChanges: () => call<ToolChange[]>('tool_changes'),
  /** Serve held tools again as they now are (`tools` empty: all of the server's); resolves to
   * how many were accepted. */
  acceptToolChanges: async (request: AcceptToolChanges) => Number(await call('accept_tool_changes', { request })),
  /** Start connecting a remote server; resolves to the sign-in flow's id. */
  startConnect: async (request: ConnectRequest) => flowId(await call('start_connect', { request })),
  signInFlow: (flow: string) => call<FlowView>('sign_in_flow', { flow }),
  cancelSignIn: (flow: string) => call<unknown>('cancel_sign_in', { flow }),
  /** The MCP Registry's servers matching `query` (the shipped snapshot when none answers). */
  searchCatalog: (query: string) => call<CatalogSearch>('search_catalog', { query }),
  /** What adding a catalogue entry would save: the exact command; nothing is saved. */
  previewCatalog: (request: CatalogRequest) => call<CatalogPlan>('preview_catalog', { request }),
  /** Add a catalogue entry the user said yes to (`confirmed: true`). */
  addFromCatalog: (request: CatalogRequest) =>
    call<CatalogPlan>('add_from_catalog', { request: { ...request, confirmed: true } }),
  /** The catalogue entry an install link adds, read by the hub (a malformed or hostile link
   * rejects with the refusal); preview and add then take `link` in their request. */
  previewLink: (link: string) => call<CatalogEntry>('preview_link', { link }),
  /** The catalogue entry the `.mcpb` bundle file at `path` adds, read by the hub (a file that
   * is not a bundle rejects with why); preview and add then take `bundle` in their request. */
  previewBundle: (path: string) => call<CatalogEntry>('preview_bundle', { request: { path } }),
  /** The entry of a registry record whose package is an `.mcpb` bundle: the hub downloads it
   * (once) for its questions. */
  registryBundle: (name: string, version: string) =>
    call<CatalogEntry>('preview_bundle', { request: { name, version } }),
  /** An `.mcpb` file picked in the system's file dialog; null when the user cancels. */
  pickBundle: async () => {
    const path = await call<unknown>('pick_bundle');
    return typeof path === 'string' ? path : null;
  },
  /** The install link or bundle file the app was opened with, once (null when none waits). */
  takeOpened: async (): Promise<Opened | null> => parseOpened(await call<unknown>('take_opened')),
  listClients: () => call<ClientStatus[]>('list_clients'),
  listProfiles: () => call<ProfileStatus[]>('list_profiles'),
  /** Add or repair Patchbay's entry; `profile` serves the client that profile only, `direct`
   * writes a URL entry instead of the bridge (to keep a client installed that way as it is). */
  installClient: (id: string, request: InstallRequest = {}) =>
    call<ClientChange>('install_client', { id, request: installRequest(request) }),
  uninstallClient: (id: string) => call<ClientChange>('uninstall_client', { id }),
  /** Put back a backup of the client's file: `backup` names one, the newest when absent. */
  restoreClient: (id: string, request: RestoreRequest = {}) =>
    call<ClientChange>('restore_client', { id, request }),
  listTokens: () => call<TokenStatus[]>('list_tokens'),
  refreshToken: (name: string) => call<TokenStatus>('refresh_token', { name }),
  revokeToken: (name: string) => call<Revoked>('revoke_token', { name }),
  signInAgain: async (name: string) => flowId(await call('sign_in_again', { name })),
  recentCalls: () => call<CallRecord[]>('recent_calls'),
  getAutostart: async () => Boolean(await call('get_autostart')),
  setAutostart: (enabled: boolean) => call<unknown>('set_autostart', { enabled }),
  /** The app's own updates: nothing is installed but by `installAppUpdate` (the user's yes). */
  appUpdateState: () => call<AppUpdateState>('app_update_state'),
  checkAppUpdate: () => call<AppUpdateState>('check_app_update'),
  installAppUpdate: () => call<AppUpdateState>('install_app_update'),
  restartApp: () => call<unknown>('restart_app'),
  setUpdateChecks: (enabled: boolean) => call<AppUpdateState>('set_update_checks', { enabled }),
  /**
   * Open an http(s) URL in the system browser through the shell's opener plugin (never in this
   * webview). Needs the `opener:allow-open-url` permission.
   */
  openExternal: (url: string) => call<unknown>('plugin:opener|open_url', { url }),

  /** Hub events as they come; malformed payloads are dropped. Resolves to the unsubscribe. */
  onHubEvent: async (handler: (event: HubEvent) => void): Promise<() => void> => {
    const t = await transport;
    return t.listen(HUB_EVENT, (payload) => {
      const event = parseHubEvent(payload);
      if (event) handler(event);
    });
  },
};

export type Api = typeof api;

/** Call `handler` when an install link or a bundle file is opened. Resolves to the unsubscribe. */
export async function onOpened(handler: () => void): Promise<() => void> {
  const t = await transport;
  return t.listen(OPENED_EVENT, () => handler());
}

/** Call `handler` with the paths of files dropped onto the window. Resolves to the unsubscribe. */
export async function onFileDrop(handler: (paths: string[]) => void): Promise<() => void> {
  const t = await transport;
  return t.listen(DRAG_DROP_EVENT, (payload) => handler(dropPaths(payload)));
}

/** Call `handler` with the page the shell turns the window to. Resolves to the unsubscribe. */
/** The app's update state as it changes (a check from the tray, a download's progress). */
export async function onAppUpdate(handler: (state: AppUpdateState) => void): Promise<() => void> {
  const t = await transport;
  return t.listen(APP_UPDATE_EVENT, (payload) => {
    const state = parseUpdateState(payload);
    if (state) handler(state);
  });
}

export async function onShowPage(handler: (page: string) => void): Promise<() => void> {
  const t = await transport;
  return t.listen(SHOW_PAGE_EVENT, (payload) => {
    if (typeof payload === 'string') handler(payload);
  });
}
