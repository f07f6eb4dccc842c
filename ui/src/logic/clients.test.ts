import { describe, expect, it } from 'vitest';

import type { ClientStatus, ProfileStatus, ServerStatus } from '../types';
import {
  clientActions,
  clientStateView,
  installLabel,
  profileChoices,
  profileSummary,
  restartNote,
  servedTools,
  toolLimitWarning,
} from './clients';

const client = (over: Partial<ClientStatus> = {}): ClientStatus => ({
  id: 'cursor',
  name: 'Cursor',
  path: '~/.cursor/mcp.json',
  format: 'json',
  detected: true,
  installed: true,
  entry: 'intact',
  mode: 'bridge',
  direct: true,
  tool_limit: 40,
  profile: null,
  error: null,
  ...over,
});

const server = (name: string, tools: number, disabled = false): ServerStatus => ({
  name,
  state: disabled ? 'stopped' : 'running',
  pid: null,
  uptime_secs: null,
  tools,
  restarts: 0,
  retry_in_ms: null,
  last_error: disabled ? 'disabled' : null,
  command: name,
  kind: 'stdio',
  enabled: !disabled,
  tools_held: 0,
});

describe('client states', () => {
  it('tells installed, drifted, detected and absent apart', () => {
    expect(clientStateView(client()).word).toBe('installed');
    expect(clientStateView(client({ entry: 'changed' })).word).toBe('drifted');
    expect(clientStateView(client({ entry: 'missing', installed: false })).word).toBe('drifted');
    expect(clientStateView(client({ entry: 'not_installed', installed: false })).word).toBe('detected');
    expect(clientStateView(client({ entry: 'not_installed', installed: false, detected: false })).word).toBe('not_detected');
    expect(clientStateView(client({ error: 'expected `,` at line 3' })).word).toBe('unreadable');
  });

  it('offers Install, Repair or nothing', () => {
    expect(clientActions(client()).install).toBeNull();
    expect(clientActions(client({ entry: 'missing', installed: false })).install).toBe('Repair');
    expect(clientActions(client({ entry: 'changed' })).install).toBe('Repair');
    expect(clientActions(client({ entry: 'not_installed', installed: false })).install).toBe('Install');
  });

  it('offers Uninstall only when there is something of ours', () => {
    expect(clientActions(client()).uninstall).toBe(true);
    expect(clientActions(client({ entry: 'missing', installed: false })).uninstall).toBe(true);
    expect(clientActions(client({ entry: 'not_installed', installed: false })).uninstall).toBe(false);
  });
});

describe('tool limits', () => {
  const servers = [server('a', 30), server('b', 15), server('off', 100, true)];

  it('counts every enabled server’s tools for a client without a profile', () => {
    expect(servedTools(client(), servers)).toBe(45);
  });

  it('uses the hub’s count when it gives one', () => {
    expect(servedTools(client({ served_tools: 7 }), servers)).toBe(7);
  });

  it('cannot count a profile’s tools without the hub', () => {
    expect(servedTools(client({ profile: 'work' }), servers)).toBeNull();
    expect(toolLimitWarning(client({ profile: 'work' }), servers)).toBeNull();
  });

  it('warns when the served tools exceed the limit, and only then', () => {
    expect(toolLimitWarning(client({ tool_limit: 40 }), servers)).toBe(
      'the hub serves 45 tools and Cursor uses at most 40: disable servers it does not need, or install it with a profile',
    );
    expect(toolLimitWarning(client({ tool_limit: 45 }), servers)).toBeNull();
    expect(toolLimitWarning(client({ tool_limit: null }), servers)).toBeNull();
  });

  it('names the profile when the hub counted one', () => {
    expect(toolLimitWarning(client({ profile: 'work', served_tools: 50 }), servers)).toContain('profile `work` serves 50 tools');
  });

  it('says nothing for a client that is neither installed nor on this machine', () => {
    expect(toolLimitWarning(client({ installed: false, detected: false, entry: 'not_installed' }), servers)).toBeNull();
  });
});

const profile = (over: Partial<ProfileStatus> = {}): ProfileStatus => ({
  name: 'work',
  servers: ['github'],
  tools: [],
  unknown_servers: [],
  served_tools: 12,
  path: '/p/work/mcp',
  problem: null,
  ...over,
});

describe('profiles for a client', () => {
  const servers = [server('a', 30), server('b', 15)];

  it('names the profile the hub suggests in the warning', () => {
    const over = client({ tool_limit: 40, served_tools: 45, fitting_profile: { name: 'all-github', served_tools: 39 } });
    expect(toolLimitWarning(over, servers)).toBe(
      'the hub serves 45 tools and Cursor uses at most 40: disable servers it does not need, or install it with profile `all-github` (39 tools)',
    );
    expect(toolLimitWarning({ ...over, fitting_profile: null }, servers)).toBe(
      'the hub serves 45 tools and Cursor uses at most 40: disable servers it does not need, or install it with a profile',
    );
  });

  it('offers every server first, then each profile with its tool count', () => {
    expect(profileChoices([profile(), profile({ name: 'one', served_tools: 1 })])).toEqual([
      { value: '', label: 'every server' },
      { value: 'work', label: 'profile work (12 tools)' },
      { value: 'one', label: 'profile one (1 tool)' },
    ]);
  });

  it('offers Apply when an intact entry serves another profile than the one chosen', () => {
    const installed = client({ entry: 'intact', installed: true, profile: null });
    expect(installLabel(installed, '')).toBeNull();
    expect(installLabel(installed, 'work')).toBe('Apply');
    expect(installLabel(client({ entry: 'intact', profile: 'work' }), 'work')).toBeNull();
    expect(installLabel(client({ entry: 'intact', profile: 'work' }), '')).toBe('Apply');
    expect(installLabel(client({ entry: 'not_installed', installed: false }), 'work')).toBe('Install');
    expect(installLabel(client({ entry: 'missing' }), '')).toBe('Repair');
  });

  it('sums up what a profile serves', () => {
    expect(profileSummary(profile({ servers: [], tools: [] }))).toBe('every server');
    expect(profileSummary(profile({ servers: ['a', 'b'], tools: ['a__*', '!a__rm'] }))).toBe('a, b; tools a__*, !a__rm');
  });
});

describe('restart note', () => {
  it('uses the client’s own instruction when known', () => {
    expect(restartNote('Claude Desktop', 'quit Claude Desktop completely and start it again')).toBe(
      'Next: quit Claude Desktop completely and start it again.',
    );
    expect(restartNote('Cursor', null)).toBe('Restart Cursor so it picks up the change.');
  });
});
