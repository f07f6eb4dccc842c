import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { setTransport } from '../api';
import { App } from '../app';
import { byTestId, choose, click, maybeTestId, mount, settle, text, type, unmount } from '../test/dom';
import { fakeShell } from '../test/fake';
import type { Fake } from '../test/fake';
import type { ClientChange, ClientStatus, FlowView, InstallRequest, ProfileStatus, ServerStatus, TokenStatus } from '../types';

const AUTH = 'https://auth.example.com/authorize?client_id=pb&state=s';

let shell: Fake;
let root: HTMLElement | null = null;
let flow: FlowView;

const servers: ServerStatus[] = [
  { name: 'big', state: 'running', pid: 1, uptime_secs: 1, tools: 30, restarts: 0, retry_in_ms: null, last_error: null, command: 'big', kind: 'stdio', enabled: true, tools_held: 0 },
  { name: 'more', state: 'idle', pid: null, uptime_secs: null, tools: 20, restarts: 0, retry_in_ms: null, last_error: null, command: 'more', kind: 'stdio', enabled: true, tools_held: 0 },
];

const token = (over: Partial<TokenStatus> = {}): TokenStatus => ({
  server: 'notes',
  url: 'https://notes.example.com/mcp',
  state: 'valid',
  issuer: 'https://auth.example.com',
  client_id: 'pb-1',
  scopes: ['notes:read', 'notes:write'],
  expires_at: null,
  expires_in: null,
  refresh_token: true,
  header: null,
  message: null,
  actions: { refresh: true, revoke: true, sign_in: true },
  ...over,
});

const client = (over: Partial<ClientStatus>): ClientStatus => ({
  id: 'cursor',
  name: 'Cursor',
  path: '/home/u/.cursor/mcp.json',
  format: 'json',
  detected: true,
  installed: false,
  entry: 'not_installed',
  mode: null,
  direct: true,
  tool_limit: 40,
  profile: null,
  error: null,
  ...over,
});

/** What install, uninstall and restore answer (`api::ClientChange`). */
const change = (over: Partial<ClientChange> = {}): ClientChange => ({
  client: 'cursor',
  path: '/home/u/.cursor/mcp.json',
  changed: true,
  repaired: false,
  next: "refresh the MCP servers in Cursor's settings",
  ...over,
});

beforeEach(() => {
  flow = { flow: 'f1', server: 'notes', progress: [], finished: false, cancelled: false };
  shell = fakeShell({
    hub_status: () => ({ version: '0.1.0', pid: 1, config_file: '/c', servers, calls_waiting_for_input: 0 }),
    list_servers: () => servers,
    list_profiles: () => [],
    get_autostart: () => false,
    set_autostart: () => null,
    start_connect: () => 'f1',
    sign_in_flow: () => structuredClone(flow),
    cancel_sign_in: () => ({ cancelled: 'f1' }),
    recent_calls: () => [
      { started_ms: 1000, server: 'big', tool: 'old_call', client: null, duration_ms: 5, outcome: 'ok' },
    ],
  });
  setTransport(shell.transport);
});

afterEach(() => {
  if (root) unmount(root);
  root = null;
  vi.useRealTimers();
});

describe('navigation', () => {
  it('switches pages with buttons that say which page is current', async () => {
    root = await mount(<App />);
    expect(byTestId('nav-servers').getAttribute('aria-current')).toBe('page');
    await click('nav-activity');
    expect(maybeTestId('page-activity')).not.toBeNull();
    expect(byTestId('nav-activity').getAttribute('aria-current')).toBe('page');
    expect(byTestId('nav-servers').getAttribute('aria-current')).toBeNull();
  });

  it('moves between pages with the arrow keys and focuses the new page’s heading', async () => {
    root = await mount(<App />);
    byTestId('nav-servers').focus();
    byTestId('nav-servers').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
    expect(document.activeElement).toBe(byTestId('nav-connect'));
    await click('nav-connect');
    expect(document.activeElement?.id).toBe('connect-title');
  });

  it('turns start at login on through the shell', async () => {
    root = await mount(<App />);
    const box = byTestId<HTMLInputElement>('autostart-toggle');
    expect(box.checked).toBe(false);
    await click('autostart-toggle');
    expect(shell.callsOf('set_autostart')).toEqual([{ enabled: true }]);
  });

  it('says when the hub cannot be reached, readably', async () => {
    shell.on({ hub_status: () => Promise.reject({ code: 'unreachable', message: 'cannot reach the hub at http://127.0.0.1:7000/api/v1' }) });
    root = await mount(<App />);
    expect(text('hub-status')).toBe('hub unreachable: cannot reach the hub at http://127.0.0.1:7000/api/v1');
    expect(maybeTestId('hub-retry')).not.toBeNull();
  });

  it('shows a config error from the event stream until the config applies', async () => {
    root = await mount(<App />);
    shell.emit({ kind: 'config_error', message: 'config.toml:3:7: expected `=`' });
    await settle();
    expect(text('config-error')).toContain('config.toml:3:7: expected `=`');
    shell.emit({ kind: 'config_applied' });
    await settle();
    expect(maybeTestId('config-error')).toBeNull();
  });
});

describe('Connect page', () => {
  it('connects, shows the browser wait with the link, then the result', async () => {
    root = await mount(<App initialPage="connect" />);
    await type('connect-url', 'https://notes.example.com/mcp');
    await click('connect-submit');
    expect(shell.callsOf('start_connect')).toEqual([{ request: { url: 'https://notes.example.com/mcp' } }]);
    expect(text('connect-status')).toBe('Starting `notes`...');

    shell.emit({ kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'waiting_for_browser', message: 'opened', url: AUTH });
    await settle();
    expect(text('connect-status')).toBe('Waiting for sign-in in your browser...');
    expect(byTestId<HTMLAnchorElement>('connect-auth-url').href).toBe(AUTH);
    expect(byTestId<HTMLButtonElement>('connect-submit').disabled).toBe(true);

    flow = {
      ...flow,
      finished: true,
      progress: [{ stage: 'done', message: 'signed in' }],
      connected: { server: 'notes', url: 'https://notes.example.com/mcp', auth: 'oauth', scopes: ['notes:read'], issuer: 'https://auth.example.com', added: true },
    };
    shell.emit({ kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'done', message: 'signed in' });
    await settle();
    expect(text('connect-status')).toBe('Signed in `notes`; finishing...');
    // the next poll brings the details
    await new Promise((r) => setTimeout(r, 1100));
    await settle();
    expect(text('connect-status')).toBe('Connected `notes` and added it to your servers.');
    expect(text('connect-result')).toContain('https://auth.example.com');
    expect(maybeTestId('connect-cancel')).toBeNull();
  });

  it('opens the authorization link in the system browser, not in the window', async () => {
    shell.on({ 'plugin:opener|open_url': () => null });
    root = await mount(<App initialPage="connect" />);
    await type('connect-url', 'https://notes.example.com/mcp');
    await click('connect-submit');
    shell.emit({ kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'waiting_for_browser', message: '', url: AUTH });
    await settle();
    const link = byTestId<HTMLAnchorElement>('connect-auth-url');
    const event = new MouseEvent('click', { bubbles: true, cancelable: true });
    link.dispatchEvent(event);
    await settle();
    expect(event.defaultPrevented).toBe(true);
    expect(shell.callsOf('plugin:opener|open_url')).toEqual([{ url: AUTH }]);
  });

  it('cancels', async () => {
    root = await mount(<App initialPage="connect" />);
    await type('connect-url', 'https://notes.example.com/mcp');
    await click('connect-submit');
    await click('connect-cancel');
    expect(shell.callsOf('cancel_sign_in')).toEqual([{ flow: 'f1' }]);
    shell.emit({ kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'cancelled', message: 'cancelled' });
    await settle();
    expect(text('connect-status')).toBe('Sign-in cancelled.');
    expect(byTestId<HTMLButtonElement>('connect-submit').disabled).toBe(false);
  });

  it('refuses a URL that is not http(s) without calling the shell', async () => {
    root = await mount(<App initialPage="connect" />);
    await type('connect-url', 'notes.example.com');
    await click('connect-submit');
    expect(shell.callsOf('start_connect')).toEqual([]);
    expect(text('connect-problem')).toContain('https://');
  });

  it('shows why the connect could not start', async () => {
    shell.on({ start_connect: () => Promise.reject({ code: 'conflict', message: 'a server named `notes` exists already' }) });
    root = await mount(<App initialPage="connect" />);
    await type('connect-url', 'https://notes.example.com/mcp');
    await click('connect-submit');
    expect(text('connect-status')).toBe('Failed: a server named `notes` exists already');
  });
});

describe('Tokens page', () => {
  it('counts the expiry down every second', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const now = new Date('2026-11-22T12:00:00Z').getTime();
    vi.setSystemTime(now);
    shell.on({ list_tokens: () => [token({ expires_at: now / 1000 + 65 })] });
    root = await mount(<App initialPage="tokens" />);
    expect(text('token-expiry-notes')).toBe('in 1m 05s');
    vi.advanceTimersByTime(1000);
    await settle();
    expect(text('token-expiry-notes')).toBe('in 1m 04s');
    vi.advanceTimersByTime(65_000);
    await settle();
    expect(text('token-expiry-notes')).toBe('expired 1s ago');
    expect(text('token-issuer-notes')).toBe('https://auth.example.com');
    expect(text('token-scopes-notes')).toBe('notes:read notes:write');
  });

  it('revokes after confirmation and re-reads the list', async () => {
    let state = 'valid';
    shell.on({
      list_tokens: () => [
        state === 'valid' ? token() : token({ state, refresh_token: false, actions: { refresh: false, revoke: false, sign_in: true } }),
      ],
      revoke_token: () => {
        state = 'revoked';
        return { server: 'notes', at_provider: true, deleted: true, note: null };
      },
    });
    root = await mount(<App initialPage="tokens" />);
    await click('token-revoke-notes');
    expect(shell.callsOf('revoke_token')).toEqual([]);
    await click('token-revoke-notes-confirm');
    expect(shell.callsOf('revoke_token')).toEqual([{ name: 'notes' }]);
    expect(byTestId('token-state-notes').dataset.state).toBe('revoked');
    expect(text('tokens-status')).toBe('Revoked the tokens of `notes` at the provider and in the keychain.');
    expect(byTestId<HTMLButtonElement>('token-refresh-notes').disabled).toBe(true);
    expect(byTestId<HTMLButtonElement>('token-revoke-notes').disabled).toBe(true);
    expect(byTestId<HTMLButtonElement>('token-signin-notes').disabled).toBe(false);
  });

  it('follows a token_state event, then offers what the hub offers in the new state', async () => {
    let now = token();
    shell.on({ list_tokens: () => [now], sign_in_again: () => ({ flow: 'f1' }) });
    root = await mount(<App initialPage="tokens" />);
    now = token({ state: 'needs_sign_in', message: 'invalid_grant', actions: { refresh: false, revoke: true, sign_in: true } });
    shell.emit({ kind: 'token_state', server: 'notes', state: 'needs_sign_in', message: 'invalid_grant' });
    await settle();
    expect(byTestId('token-state-notes').dataset.state).toBe('needs_sign_in');
    expect(text('token-message-notes')).toBe('invalid_grant');
    // Until the list is read again the row offers nothing: what the new state allows is the hub's to say.
    expect(byTestId<HTMLButtonElement>('token-signin-notes').disabled).toBe(true);
    await vi.waitFor(() => expect(byTestId<HTMLButtonElement>('token-signin-notes').disabled).toBe(false));
    expect(byTestId<HTMLButtonElement>('token-refresh-notes').disabled).toBe(true);
    await click('token-signin-notes');
    expect(shell.callsOf('sign_in_again')).toEqual([{ name: 'notes' }]);
    expect(text('token-signin-status')).toBe('Starting `notes`...');
  });

  it('shows a refresh failure as the hub says it', async () => {
    shell.on({
      list_tokens: () => [token()],
      refresh_token: () => Promise.reject({ code: 'needs_sign_in', message: '`notes` needs a new sign-in (invalid_grant): run `patchbay login notes`' }),
    });
    root = await mount(<App initialPage="tokens" />);
    await click('token-refresh-notes');
    expect(text('tokens-status')).toBe('`notes` needs a new sign-in (invalid_grant): run `patchbay login notes`');
  });

  it('never renders a token value', async () => {
    shell.on({ list_tokens: () => [{ ...token(), access_token: 'SECRET-AT', refresh_token: true } as TokenStatus] });
    root = await mount(<App initialPage="tokens" />);
    expect(document.body.textContent).not.toContain('SECRET-AT');
  });
});

describe('Clients page', () => {
  it('installs, then says to restart the client', async () => {
    let installed = false;
    shell.on({
      list_clients: () => [client(installed ? { installed: true, entry: 'intact', mode: 'bridge' } : {})],
      install_client: () => {
        installed = true;
        return change();
      },
    });
    root = await mount(<App initialPage="clients" />);
    expect(byTestId('client-row-cursor').dataset.state).toBe('detected');
    await click('client-install-cursor');
    expect(shell.callsOf('install_client')).toEqual([{ id: 'cursor', request: {} }]);
    expect(byTestId('client-row-cursor').dataset.state).toBe('installed');
    expect(text('client-note-cursor')).toBe("Next: refresh the MCP servers in Cursor's settings.");
    expect(maybeTestId('client-install-cursor')).toBeNull();
    expect(maybeTestId('client-uninstall-cursor')).not.toBeNull();
  });

  it('warns when the served tools exceed the client’s limit, naming the profile the hub suggests', async () => {
    shell.on({
      list_clients: () => [
        client({ tool_limit: 40, served_tools: 50, fitting_profile: { name: 'small', served_tools: 12 } }),
        client({ id: 'vscode', name: 'VS Code', tool_limit: 128 }),
      ],
    });
    root = await mount(<App initialPage="clients" />);
    expect(text('client-warning-cursor')).toBe(
      'the hub serves 50 tools and Cursor uses at most 40: disable servers it does not need, or install it with profile `small` (12 tools)',
    );
    expect(maybeTestId('client-warning-vscode')).toBeNull();
  });

  it('lists the profiles and installs a client with the one chosen, keeping its URL entry', async () => {
    const work: ProfileStatus = {
      name: 'work',
      servers: ['big', 'gone'],
      tools: ['!big__rm*'],
      unknown_servers: ['gone'],
      served_tools: 28,
      path: '/p/work/mcp',
      problem: null,
    };
    let profile: string | null = null;
    shell.on({
      list_profiles: () => [work],
      list_clients: () => [
        client({
          installed: true,
          entry: 'intact',
          mode: 'direct',
          profile,
          served_tools: profile ? 28 : 50,
          fitting_profile: profile ? null : { name: 'work', served_tools: 28 },
        }),
      ],
      install_client: (args) => {
        profile = (args.request as InstallRequest).profile ?? null;
        return change();
      },
    });
    root = await mount(<App initialPage="clients" />);
    expect(text('profile-tools-work')).toBe('28');
    expect(text('profile-row-work')).toContain('big, gone; tools !big__rm*');
    expect(text('profile-unknown-work')).toContain('gone');
    expect(text('client-warning-cursor')).toContain('install it with profile `work` (28 tools)');
    expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('');
    expect(maybeTestId('client-install-cursor')).toBeNull();
    await choose('client-profile-cursor', 'work');
    expect(text('client-install-cursor')).toBe('Apply');
    await click('client-install-cursor');
    expect(shell.callsOf('install_client')).toEqual([{ id: 'cursor', request: { profile: 'work', direct: true } }]);
    expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('work');
    expect(maybeTestId('client-install-cursor')).toBeNull();
    expect(maybeTestId('client-warning-cursor')).toBeNull();
    expect(text('client-row-cursor')).toContain('profile work');
  });

  describe('the picker’s choice', () => {
    const profile = (name: string, served_tools: number): ProfileStatus => ({
      name,
      servers: ['big'],
      tools: [],
      unknown_servers: [],
      served_tools,
      path: `/p/${name}/mcp`,
      problem: null,
    });
    /** What the hub says Cursor's entry serves; tests change it as the CLI would. */
    let serves: string | null;
    beforeEach(() => {
      serves = null;
      shell.on({
        list_profiles: () => [profile('clock', 2), profile('work', 28)],
        list_clients: () => [client({ installed: true, entry: 'intact', mode: 'bridge', profile: serves })],
        install_client: (args) => {
          serves = (args.request as InstallRequest).profile ?? null;
          return change();
        },
      });
    });

    it('is dropped once Apply succeeds, so a later change elsewhere shows as the hub says it', async () => {
      root = await mount(<App initialPage="clients" />);
      await choose('client-profile-cursor', 'work');
      await click('client-install-cursor');
      expect(shell.callsOf('install_client')).toEqual([{ id: 'cursor', request: { profile: 'work' } }]);
      expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('work');

      serves = 'clock'; // `patchbay install cursor --profile clock`
      await click('clients-refresh');
      expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('clock');
      expect(maybeTestId('client-install-cursor')).toBeNull();
    });

    it('is dropped when the row’s profile changes before it is applied', async () => {
      root = await mount(<App initialPage="clients" />);
      await choose('client-profile-cursor', 'work');
      expect(text('client-install-cursor')).toBe('Apply');

      serves = 'clock';
      await click('clients-refresh');
      expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('clock');
      expect(maybeTestId('client-install-cursor')).toBeNull();

      serves = null; // back as it was: the old choice does not come back with it
      await click('clients-refresh');
      expect(byTestId<HTMLSelectElement>('client-profile-cursor').value).toBe('');
      expect(maybeTestId('client-install-cursor')).toBeNull();
    });
  });

  it('says there are no profiles yet, and offers no picker', async () => {
    shell.on({ list_clients: () => [client({})] });
    root = await mount(<App initialPage="clients" />);
    expect(text('profiles-empty')).toBe('No profiles yet.');
    expect(maybeTestId('client-profile-cursor')).toBeNull();
  });

  it('marks a drifted client live and offers Repair', async () => {
    shell.on({ list_clients: () => [client({ installed: true, entry: 'intact', mode: 'bridge' })] });
    root = await mount(<App initialPage="clients" />);
    shell.emit({ kind: 'client_drift', client: 'cursor', path: '/home/u/.cursor/mcp.json', entry: 'missing' });
    await settle();
    expect(byTestId('client-row-cursor').dataset.state).toBe('drifted');
    expect(text('client-install-cursor')).toBe('Repair');
  });

  it('shows why a restore failed', async () => {
    shell.on({
      list_clients: () => [client({})],
      restore_client: () => Promise.reject({ code: 'not_found', message: 'no backups of Cursor’s config' }),
    });
    root = await mount(<App initialPage="clients" />);
    await click('client-restore-cursor');
    await click('client-restore-cursor-confirm');
    expect(text('clients-status')).toBe('no backups of Cursor’s config');
  });
});

describe('Activity page', () => {
  it('lists calls and puts new ones on top as they happen', async () => {
    root = await mount(<App initialPage="activity" />);
    expect(document.querySelectorAll('[data-testid="activity-row"]').length).toBe(1);
    shell.emit({ kind: 'tool_call', started_ms: 5000, server: 'big', tool: 'echo', client: 'claude-ai', duration_ms: 1234, outcome: 'tool_error' });
    await settle();
    const rows = document.querySelectorAll<HTMLElement>('[data-testid="activity-row"]');
    expect(rows.length).toBe(2);
    expect(rows[0]!.dataset.tool).toBe('echo');
    expect(rows[0]!.textContent).toContain('claude-ai');
    expect(rows[0]!.textContent).toContain('1.2 s');
    expect(rows[0]!.textContent).toContain('tool error');
  });
});
