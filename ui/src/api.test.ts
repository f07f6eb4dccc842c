import { beforeEach, describe, expect, it } from 'vitest';

import { api, commandLine, flowId, logLines, setTransport } from './api';
import { fakeShell } from './test/fake';
import type { Fake } from './test/fake';

let shell: Fake;

beforeEach(() => {
  shell = fakeShell();
  setTransport(shell.transport);
});

describe('commands and their arguments', () => {
  it('sends the add form’s server to preview_server and add_server whole, as `server`', async () => {
    shell.on({ preview_server: () => ({ command_line: "npx -y 'a b'" }), add_server: () => null });
    const spec = { name: 'x', command: 'npx', args: ['-y', 'a b'], env: { TZ: 'UTC' }, cwd: null };
    expect(await api.previewServer(spec)).toBe("npx -y 'a b'");
    await api.addServer(spec);
    expect(shell.calls).toEqual([
      { command: 'preview_server', args: { server: spec } },
      { command: 'add_server', args: { server: spec } },
    ]);
  });

  it('names every command as the contract says', async () => {
    const answers: Record<string, unknown> = {
      hub_status: {},
      list_servers: [],
      remove_server: null,
      set_server_enabled: null,
      server_logs: { server: 'x', lines: ['a'] },
      server_tools: [],
      start_connect: 'f1',
      sign_in_flow: {},
      cancel_sign_in: null,
      list_clients: [],
      list_profiles: [],
      install_client: {},
      uninstall_client: {},
      restore_client: {},
      list_tokens: [],
      refresh_token: {},
      revoke_token: {},
      sign_in_again: 'f2',
      recent_calls: [],
      get_autostart: true,
      set_autostart: null,
    };
    shell.on(Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, () => v])));
    await api.hubStatus();
    await api.listServers();
    await api.removeServer('x');
    await api.setServerEnabled('x', false);
    await api.serverLogs('x', 50);
    await api.serverTools('x');
    await api.startConnect({ url: 'https://h/mcp', client_id: 'c', scopes: ['a'] });
    await api.signInFlow('f1');
    await api.cancelSignIn('f1');
    await api.listClients();
    await api.listProfiles();
    await api.installClient('cursor');
    await api.installClient('cursor', { profile: 'work' });
    await api.installClient('vscode', { profile: null, direct: true });
    await api.uninstallClient('cursor');
    await api.restoreClient('cursor');
    await api.restoreClient('cursor', { backup: 'mcp.json.20260101T000000Z' });
    await api.listTokens();
    await api.refreshToken('n');
    await api.revokeToken('n');
    await api.signInAgain('n');
    await api.recentCalls();
    await api.getAutostart();
    await api.setAutostart(true);
    expect(shell.calls).toEqual([
      { command: 'hub_status', args: undefined },
      { command: 'list_servers', args: undefined },
      { command: 'remove_server', args: { name: 'x' } },
      { command: 'set_server_enabled', args: { name: 'x', enabled: false } },
      { command: 'server_logs', args: { name: 'x', lines: 50 } },
      { command: 'server_tools', args: { name: 'x' } },
      { command: 'start_connect', args: { request: { url: 'https://h/mcp', client_id: 'c', scopes: ['a'] } } },
      { command: 'sign_in_flow', args: { flow: 'f1' } },
      { command: 'cancel_sign_in', args: { flow: 'f1' } },
      { command: 'list_clients', args: undefined },
      { command: 'list_profiles', args: undefined },
      // Only what differs from the hub's defaults: no `profile: null`, no `direct: false`.
      { command: 'install_client', args: { id: 'cursor', request: {} } },
      { command: 'install_client', args: { id: 'cursor', request: { profile: 'work' } } },
      { command: 'install_client', args: { id: 'vscode', request: { direct: true } } },
      { command: 'uninstall_client', args: { id: 'cursor' } },
      { command: 'restore_client', args: { id: 'cursor', request: {} } },
      { command: 'restore_client', args: { id: 'cursor', request: { backup: 'mcp.json.20260101T000000Z' } } },
      { command: 'list_tokens', args: undefined },
      { command: 'refresh_token', args: { name: 'n' } },
      { command: 'revoke_token', args: { name: 'n' } },
      { command: 'sign_in_again', args: { name: 'n' } },
      { command: 'recent_calls', args: undefined },
      { command: 'get_autostart', args: undefined },
      { command: 'set_autostart', args: { enabled: true } },
    ]);
  });
});

describe('rejections', () => {
  it('reach the caller as {code, message}', async () => {
    shell.on({ remove_server: () => Promise.reject({ code: 'not_found', message: 'no server named `x`' }) });
    await expect(api.removeServer('x')).rejects.toEqual({ code: 'not_found', message: 'no server named `x`' });
  });

  it('turn a thrown string into {code, message}', async () => {
    shell.on({
      list_servers: () => {
        throw 'cannot reach the hub at http://127.0.0.1:4000/api/v1';
      },
    });
    await expect(api.listServers()).rejects.toEqual({ code: 'error', message: 'cannot reach the hub at http://127.0.0.1:4000/api/v1' });
  });
});

describe('answers in more than one shape', () => {
  it('flow ids', () => {
    expect(flowId('abc')).toBe('abc');
    expect(flowId({ flow: 'abc' })).toBe('abc');
    expect(() => flowId({})).toThrow();
    expect(() => flowId('')).toThrow();
  });

  it('log lines', () => {
    expect(logLines(['a', 'b'])).toEqual(['a', 'b']);
    expect(logLines({ server: 'x', lines: ['a'] })).toEqual(['a']);
    expect(logLines('a\nb')).toEqual(['a', 'b']);
    expect(logLines('')).toEqual([]);
    expect(logLines(null)).toEqual([]);
  });

  it('command lines', () => {
    expect(commandLine({ command_line: 'uvx x' })).toBe('uvx x');
    expect(commandLine('uvx x')).toBe('uvx x');
    expect(() => commandLine({})).toThrow();
  });
});

describe('hub events', () => {
  it('arrive parsed, and malformed ones are dropped', async () => {
    const seen: unknown[] = [];
    const stop = await api.onHubEvent((e) => seen.push(e));
    shell.emit({ kind: 'server_state', server: 'a', state: 'running' });
    shell.emit({ nonsense: true });
    shell.emit({ kind: 'catalog_changed' });
    stop();
    shell.emit({ kind: 'config_applied' });
    expect(seen).toEqual([{ kind: 'server_state', server: 'a', state: 'running' }, { kind: 'catalog_changed' }]);
  });
});
