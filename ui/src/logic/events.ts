/**
 * Hub events (`events::HubEvent`, tagged by `kind`) and what each does to the views' data.
 * Reducers are pure: they return new arrays and say when a full re-read is the only honest
 * answer (an event about something the view has not seen yet).
 */
import type { CallRecord, ClientStatus, HubEvent, ServerStatus, TokenStatus } from '../types';
import { NO_ACTIONS } from './tokens';

const KINDS = new Set([
  'server_state',
  'catalog_changed',
  'config_applied',
  'config_error',
  'tool_call',
  'client_drift',
  'sign_in',
  'token_state',
  'lagged',
  'tools_held',
]);

const str = (v: unknown): v is string => typeof v === 'string';

/** A payload as a {@link HubEvent}, or `null` when it is not one this UI understands. */
export function parseHubEvent(payload: unknown): HubEvent | null {
  let value = payload;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (!str(v.kind) || !KINDS.has(v.kind)) return null;
  switch (v.kind) {
    case 'server_state':
      return str(v.server) && str(v.state) ? (v as HubEvent) : null;
    case 'config_error':
      return str(v.message) ? (v as HubEvent) : null;
    case 'tool_call':
      return str(v.server) && str(v.tool) && typeof v.started_ms === 'number' ? (v as HubEvent) : null;
    case 'client_drift':
      return str(v.client) && str(v.entry) ? (v as HubEvent) : null;
    case 'sign_in':
      return str(v.flow) && str(v.stage) ? (v as HubEvent) : null;
    case 'token_state':
      return str(v.server) && str(v.state) ? (v as HubEvent) : null;
    case 'tools_held':
      return str(v.server) && Array.isArray(v.tools) ? (v as HubEvent) : null;
    default:
      return v as HubEvent;
  }
}

/** Which lists an event makes stale, beyond what the reducers patch in place. */
export interface Stale {
  servers: boolean;
  tokens: boolean;
  clients: boolean;
  calls: boolean;
}

/** What to re-read after `event`. */
export function staleAfter(event: HubEvent): Stale {
  const none: Stale = { servers: false, tokens: false, clients: false, calls: false };
  switch (event.kind) {
    case 'catalog_changed':
      // tool counts moved, and with them what each client and profile is served
      return { ...none, servers: true, clients: true };
    case 'config_applied':
      // servers added, removed, enabled or disabled; remote servers come and go with tokens;
      // profiles made or changed
      return { ...none, servers: true, tokens: true, clients: true };
    case 'sign_in':
      return event.stage === 'done' ? { ...none, servers: true, tokens: true } : none;
    case 'token_state':
      // the event carries the state only; expiry and scopes come with a re-read
      return { ...none, tokens: true };
    case 'server_state':
      // a crash: the event has no restart wait or restart count; the status has
      return event.state === 'restarting' ? { ...none, servers: true } : none;
    case 'tools_held':
      // the servers' held counts moved (the changes themselves are read by the review panel)
      return { ...none, servers: true };
    case 'lagged':
      return { servers: true, tokens: true, clients: true, calls: true };
    default:
      return none;
  }
}

/** A server's new state. `found: false` means the server is new to this list: re-read it. */
export function applyServerState(
  servers: ServerStatus[],
  event: Extract<HubEvent, { kind: 'server_state' }>,
): { servers: ServerStatus[]; found: boolean } {
  let found = false;
  const next = servers.map((s) => {
    if (s.name !== event.server) return s;
    found = true;
    return {
      ...s,
      state: event.state,
      // the status keeps the last failure; a state without one does not erase it
      last_error: event.error ?? s.last_error,
      // a new crash's wait comes with the re-read `staleAfter` asks for
      retry_in_ms: event.state === 'restarting' && s.state === 'restarting' ? s.retry_in_ms : null,
      pid: event.state === 'running' || event.state === 'starting' ? s.pid : null,
    };
  });
  return { servers: found ? next : servers, found };
}

/** The most calls the activity view keeps. */
export const CALLS_KEPT = 200;

/** Calls newest first; an event's call goes on top (once, even if a re-read already has it). */
export function sortCalls(calls: CallRecord[]): CallRecord[] {
  return [...calls].sort((a, b) => b.started_ms - a.started_ms);
}

const sameCall = (a: CallRecord, b: CallRecord) =>
  a.started_ms === b.started_ms && a.server === b.server && a.tool === b.tool && a.duration_ms === b.duration_ms;

export function applyToolCall(calls: CallRecord[], event: Extract<HubEvent, { kind: 'tool_call' }>): CallRecord[] {
  const record: CallRecord = {
    started_ms: event.started_ms,
    server: event.server,
    tool: event.tool,
    client: event.client ?? null,
    duration_ms: event.duration_ms,
    outcome: event.outcome,
  };
  if (calls.some((c) => sameCall(c, record))) return calls;
  return sortCalls([record, ...calls]).slice(0, CALLS_KEPT);
}

/** A token's new state (expiry is re-read). `found: false`: a server this list lacks. */
export function applyTokenState(
  tokens: TokenStatus[],
  event: Extract<HubEvent, { kind: 'token_state' }>,
): { tokens: TokenStatus[]; found: boolean } {
  let found = false;
  const next = tokens.map((t) => {
    if (t.server !== event.server) return t;
    found = true;
    // What can be done in the new state comes with the re-read the event asks for (staleAfter).
    return { ...t, state: event.state, message: event.message ?? null, actions: NO_ACTIONS };
  });
  return { tokens: found ? next : tokens, found };
}

/** A client's entry moved (dropped, rewritten, or repaired: `intact`). */
export function applyClientDrift(
  clients: ClientStatus[],
  event: Extract<HubEvent, { kind: 'client_drift' }>,
): ClientStatus[] {
  return clients.map((c) =>
    c.id === event.client
      ? { ...c, entry: event.entry, installed: event.entry === 'intact' || event.entry === 'changed' }
      : c,
  );
}
