import { describe, expect, it } from 'vitest';

import type { CallRecord, ClientStatus, ServerStatus, TokenStatus } from '../types';
import {
  CALLS_KEPT,
  applyClientDrift,
  applyServerState,
  applyTokenState,
  applyToolCall,
  parseHubEvent,
  staleAfter,
} from './events';

const server = (name: string, over: Partial<ServerStatus> = {}): ServerStatus => ({
  name,
  state: 'running',
  pid: 10,
  uptime_secs: 5,
  tools: 3,
  restarts: 0,
  retry_in_ms: null,
  last_error: null,
  command: 'x',
  kind: 'stdio',
  enabled: true,
  tools_held: 0,
  ...over,
});

describe('parseHubEvent', () => {
  it('takes the hub’s internally tagged JSON (serde tag = "kind")', () => {
    expect(parseHubEvent({ kind: 'server_state', server: 'a', state: 'running' })).toEqual({
      kind: 'server_state',
      server: 'a',
      state: 'running',
    });
    expect(parseHubEvent({ kind: 'catalog_changed' })).toEqual({ kind: 'catalog_changed' });
  });

  it('takes a JSON string payload', () => {
    expect(parseHubEvent('{"kind":"config_error","message":"config.toml:3:1: bad"}')).toEqual({
      kind: 'config_error',
      message: 'config.toml:3:1: bad',
    });
  });

  it('drops what it cannot use', () => {
    expect(parseHubEvent(null)).toBeNull();
    expect(parseHubEvent('not json')).toBeNull();
    expect(parseHubEvent({ event: 'server_state', server: 'a', state: 'x' })).toBeNull();
    expect(parseHubEvent({ kind: 'server_state', server: 'a' })).toBeNull();
    expect(parseHubEvent({ kind: 'tool_call', server: 'a', tool: 't' })).toBeNull();
    expect(parseHubEvent({ kind: 'something_new' })).toBeNull();
  });
});

describe('server_state', () => {
  it('moves only the named server', () => {
    const list = [server('a'), server('b')];
    const { servers, found } = applyServerState(list, { kind: 'server_state', server: 'b', state: 'restarting', error: 'exited 1' });
    expect(found).toBe(true);
    expect(servers[0]).toBe(list[0]);
    expect(servers[1]).toMatchObject({ state: 'restarting', last_error: 'exited 1', pid: null });
    expect(list[1]!.state).toBe('running');
  });

  it('keeps the last error when the new state carries none', () => {
    const list = [server('a', { state: 'restarting', last_error: 'exited 1' })];
    const { servers } = applyServerState(list, { kind: 'server_state', server: 'a', state: 'running' });
    expect(servers[0]).toMatchObject({ state: 'running', last_error: 'exited 1' });
  });

  it('does not carry an old restart wait into a new crash', () => {
    const list = [server('a', { state: 'running', retry_in_ms: 4000 })];
    expect(applyServerState(list, { kind: 'server_state', server: 'a', state: 'restarting' }).servers[0]!.retry_in_ms).toBeNull();
  });

  it('clears the retry countdown once the server is no longer restarting', () => {
    const list = [server('a', { state: 'restarting', retry_in_ms: 4000 })];
    expect(applyServerState(list, { kind: 'server_state', server: 'a', state: 'starting' }).servers[0]!.retry_in_ms).toBeNull();
  });

  it('says when the server is new to the list', () => {
    const list = [server('a')];
    const r = applyServerState(list, { kind: 'server_state', server: 'zzz', state: 'starting' });
    expect(r.found).toBe(false);
    expect(r.servers).toBe(list);
  });
});

describe('tool_call', () => {
  const call = (started_ms: number, tool = 'echo'): CallRecord => ({
    started_ms,
    server: 'everything',
    tool,
    client: 'claude-ai',
    duration_ms: 5,
    outcome: 'ok',
  });

  it('puts the new call on top', () => {
    const next = applyToolCall([call(2), call(1)], { kind: 'tool_call', ...call(3) });
    expect(next.map((c) => c.started_ms)).toEqual([3, 2, 1]);
  });

  it('does not add a call twice (event after a re-read that had it)', () => {
    const list = [call(3), call(2)];
    expect(applyToolCall(list, { kind: 'tool_call', ...call(3) })).toBe(list);
  });

  it('keeps at most CALLS_KEPT', () => {
    const list = Array.from({ length: CALLS_KEPT }, (_, i) => call(CALLS_KEPT - i));
    const next = applyToolCall(list, { kind: 'tool_call', ...call(10_000) });
    expect(next).toHaveLength(CALLS_KEPT);
    expect(next[0]!.started_ms).toBe(10_000);
    expect(next.at(-1)!.started_ms).toBe(2);
  });

  it('does not carry the event’s kind into the record', () => {
    const [first] = applyToolCall([], { kind: 'tool_call', ...call(1) });
    expect(first).not.toHaveProperty('kind');
  });
});

describe('token_state', () => {
  const token: TokenStatus = {
    server: 'linear',
    url: 'https://mcp.linear.app/mcp',
    state: 'valid',
    issuer: 'https://linear.app',
    client_id: 'c',
    scopes: ['read'],
    expires_at: 100,
    expires_in: 10,
    refresh_token: true,
    header: null,
    message: null,
    actions: { refresh: true, revoke: true, sign_in: true },
  };

  it('sets the state and its reason', () => {
    const { tokens, found } = applyTokenState([token], { kind: 'token_state', server: 'linear', state: 'needs_sign_in', message: 'invalid_grant' });
    expect(found).toBe(true);
    expect(tokens[0]).toMatchObject({ state: 'needs_sign_in', message: 'invalid_grant', issuer: 'https://linear.app' });
  });

  it('offers no action in the new state until the list is read again', () => {
    const { tokens } = applyTokenState([token], { kind: 'token_state', server: 'linear', state: 'revoked' });
    expect(tokens[0]?.actions).toEqual({ refresh: false, revoke: false, sign_in: false });
    expect(staleAfter({ kind: 'token_state', server: 'linear', state: 'revoked' }).tokens).toBe(true);
  });
});

describe('client_drift', () => {
  const client = (id: string, entry: string, installed: boolean): ClientStatus => ({
    id,
    name: id,
    path: `/p/${id}`,
    format: 'json',
    detected: true,
    installed,
    entry,
    mode: 'bridge',
    direct: false,
    tool_limit: null,
    profile: null,
    error: null,
  });

  it('marks a dropped entry missing and a repaired one intact', () => {
    const list = [client('cursor', 'intact', true), client('zed', 'intact', true)];
    const dropped = applyClientDrift(list, { kind: 'client_drift', client: 'cursor', path: '/p', entry: 'missing' });
    expect(dropped[0]).toMatchObject({ entry: 'missing', installed: false });
    expect(dropped[1]).toBe(list[1]);
    const repaired = applyClientDrift(dropped, { kind: 'client_drift', client: 'cursor', path: '/p', entry: 'intact' });
    expect(repaired[0]).toMatchObject({ entry: 'intact', installed: true });
  });
});

describe('what an event makes stale', () => {
  it('re-reads servers, and clients and profiles, when the catalog or config changes', () => {
    expect(staleAfter({ kind: 'catalog_changed' })).toMatchObject({ servers: true, clients: true });
    expect(staleAfter({ kind: 'config_applied' })).toMatchObject({ servers: true, tokens: true, clients: true });
  });

  it('re-reads tokens (for expiry) after a token event and a finished sign-in', () => {
    expect(staleAfter({ kind: 'token_state', server: 'a', state: 'valid' }).tokens).toBe(true);
    expect(staleAfter({ kind: 'sign_in', flow: 'f', server: 'a', stage: 'done', message: '' }).tokens).toBe(true);
    expect(staleAfter({ kind: 'sign_in', flow: 'f', server: 'a', stage: 'exchanging', message: '' }).tokens).toBe(false);
  });

  it('patches a server_state in place without a re-read', () => {
    expect(staleAfter({ kind: 'server_state', server: 'a', state: 'running' })).toEqual({
      servers: false,
      tokens: false,
      clients: false,
      calls: false,
    });
  });

  it('re-reads servers after a crash, for the restart wait and count', () => {
    expect(staleAfter({ kind: 'server_state', server: 'a', state: 'restarting', error: 'exited 1' }).servers).toBe(true);
  });

  it('re-reads the servers when a server holds tools back, for their held counts', () => {
    const event = parseHubEvent({ kind: 'tools_held', server: 'shifty', tools: ['read_notes'] });
    expect(event, 'a tools_held event is one this window understands').not.toBeNull();
    expect(staleAfter(event!)).toEqual({ servers: true, tokens: false, clients: false, calls: false });
    expect(parseHubEvent({ kind: 'tools_held', server: 'shifty' }), 'without its tools it is malformed').toBeNull();
  });

  it('re-reads everything after the stream lagged', () => {
    expect(staleAfter({ kind: 'lagged' })).toEqual({ servers: true, tokens: true, clients: true, calls: true });
  });
});
