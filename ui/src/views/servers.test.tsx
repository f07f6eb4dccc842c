import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { setTransport } from '../api';
import { App } from '../app';
import { byTestId, click, maybeTestId, mount, settle, text, type, unmount } from '../test/dom';
import { fakeShell } from '../test/fake';
import type { Fake } from '../test/fake';
import type { NewServer, ServerStatus } from '../types';

const commandLine = (spec: NewServer) => [spec.command, ...(spec.args ?? [])].join(' ');

const server = (name: string, over: Partial<ServerStatus> = {}): ServerStatus => ({
  name,
  state: 'running',
  pid: 7,
  uptime_secs: 3,
  tools: 2,
  restarts: 0,
  retry_in_ms: null,
  last_error: null,
  command: `run-${name}`,
  kind: 'stdio',
  enabled: true,
  tools_held: 0,
  ...over,
});

let shell: Fake;
let root: HTMLElement;
let servers: ServerStatus[];

beforeEach(async () => {
  servers = [server('everything', { tools: 11 }), server('old', { state: 'stopped', last_error: 'disabled', tools: 0, enabled: false })];
  shell = fakeShell({
    hub_status: () => ({ version: '0.1.0', pid: 1, config_file: '/c', servers, calls_waiting_for_input: 0 }),
    list_servers: () => structuredClone(servers),
    get_autostart: () => false,
    preview_server: (a) => ({ command_line: commandLine(a.server as NewServer) }),
    add_server: (a) => {
      const spec = a.server as NewServer;
      servers.push(server(spec.name, { state: 'starting', tools: 0 }));
      return { name: spec.name, command_line: commandLine(spec), cwd: spec.cwd ?? null, saved: true };
    },
    remove_server: (a) => {
      servers = servers.filter((s) => s.name !== a.name);
      return null;
    },
    set_server_enabled: () => null,
    server_tools: (a) => [
      { name: `${a.name}__echo`, server: a.name, original: 'echo', description: 'Echoes' },
    ],
    server_logs: () => ({ server: 'everything', lines: ['line one', 'line two'] }),
  });
  setTransport(shell.transport);
  root = await mount(<App />);
});

afterEach(() => unmount(root));

describe('Servers page', () => {
  it('lists every server with its state and tool count', () => {
    expect(text('server-state-everything')).toBe('running');
    expect(byTestId('server-state-old').dataset.state).toBe('disabled');
    expect(text('server-tools-everything')).toBe('11 tools');
    expect(text('server-toggle-old')).toBe('Enable');
    expect(text('server-toggle-everything')).toBe('Disable');
  });

  it('follows server_state events live, before any re-read', async () => {
    const reads = shell.callsOf('list_servers').length;
    shell.emit({ kind: 'server_state', server: 'everything', state: 'starting' });
    await settle();
    expect(byTestId('server-state-everything').dataset.state).toBe('starting');
    expect(shell.callsOf('list_servers').length).toBe(reads);
  });

  it('shows a crash at once, then the restart wait from a re-read', async () => {
    shell.emit({ kind: 'server_state', server: 'everything', state: 'restarting', error: 'exited with status 1' });
    await settle();
    expect(byTestId('server-state-everything').dataset.state).toBe('restarting');
    expect(text('server-state-everything')).toBe('crashed, restarting');
    expect(text('server-error-everything')).toBe('exited with status 1');
    servers[0] = { ...servers[0]!, state: 'restarting', retry_in_ms: 8000, restarts: 1, last_error: 'exited with status 1' };
    await new Promise((r) => setTimeout(r, 300));
    await settle();
    expect(text('server-state-everything')).toMatch(/^crashed, restarting in [78]\.\d s/);
  });

  it('shows the tools and the log tail of a server', async () => {
    await click('server-tools-everything');
    expect(text('server-tools-list-everything')).toContain('everything__echo');
    await click('server-logs-everything');
    expect(maybeTestId('server-tools-panel-everything')).toBeNull();
    expect(text('server-logs-text-everything')).toBe('line one\nline two');
    expect(shell.callsOf('server_logs')).toEqual([{ name: 'everything', lines: 200 }]);
  });

  it('removes only after confirmation', async () => {
    await click('server-remove-everything');
    expect(shell.callsOf('remove_server')).toEqual([]);
    await click('server-remove-everything-cancel');
    expect(shell.callsOf('remove_server')).toEqual([]);
    await click('server-remove-everything');
    await click('server-remove-everything-confirm');
    expect(shell.callsOf('remove_server')).toEqual([{ name: 'everything' }]);
    expect(maybeTestId('server-row-everything')).toBeNull();
    expect(text('servers-status')).toBe('Removed `everything`.');
  });

  it('shows the shell’s error message, not a dump', async () => {
    shell.on({ set_server_enabled: () => Promise.reject({ code: 'config', message: 'config.toml:4:2: expected `=`' }) });
    await click('server-toggle-everything');
    expect(text('servers-status')).toBe('config.toml:4:2: expected `=`');
    expect(byTestId('servers-status').getAttribute('role')).toBe('alert');
  });

  it('enables a disabled server', async () => {
    await click('server-toggle-old');
    expect(shell.callsOf('set_server_enabled')).toEqual([{ name: 'old', enabled: true }]);
  });
});

describe('adding a stdio server', () => {
  const save = () => byTestId<HTMLButtonElement>('add-server-save');

  it('keeps Save off until the exact command line is shown, and again after an edit', async () => {
    expect(save().disabled).toBe(true);
    await type('add-server-name', 'time');
    await type('add-server-command', 'uvx');
    await type('add-server-args', 'mcp-server-time\n--local-timezone=UTC');
    expect(save().disabled).toBe(true);

    await click('add-server-preview');
    expect(text('add-server-command-line')).toBe('uvx mcp-server-time --local-timezone=UTC');
    expect(save().disabled).toBe(false);

    await type('add-server-args', 'mcp-server-time');
    expect(save().disabled).toBe(true);

    await click('add-server-preview');
    expect(text('add-server-command-line')).toBe('uvx mcp-server-time');
    expect(save().disabled).toBe(false);

    await click('add-server-save');
    expect(shell.callsOf('add_server')).toEqual([
      { server: { name: 'time', command: 'uvx', args: ['mcp-server-time'], env: {}, cwd: null } },
    ]);
    expect(text('server-state-time')).toBe('starting');
    expect(byTestId<HTMLInputElement>('add-server-name').value).toBe('');
  });

  it('does not ask for a preview of an invalid form', async () => {
    await type('add-server-name', 'bad name');
    await click('add-server-preview');
    expect(shell.callsOf('preview_server')).toEqual([]);
    expect(text('add-server-problems')).toContain('letters, digits');
    expect(save().disabled).toBe(true);
  });

  it('keeps Save off when the preview fails', async () => {
    shell.on({ preview_server: () => Promise.reject({ code: 'error', message: 'no such program `nope`' }) });
    await type('add-server-name', 'x');
    await type('add-server-command', 'nope');
    await click('add-server-preview');
    expect(text('add-server-status')).toBe('no such program `nope`');
    expect(save().disabled).toBe(true);
  });
});
