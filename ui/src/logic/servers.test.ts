import { describe, expect, it } from 'vitest';

import type { ServerStatus } from '../types';
import {
  canSave,
  emptyForm,
  formSpec,
  isDisabled,
  isRemote,
  nameProblem,
  parseArgs,
  parseEnv,
  retryLeft,
  secretLookingKeys,
  serverStateView,
  shownError,
  specKey,
  toolCount,
} from './servers';

const status = (over: Partial<ServerStatus>): ServerStatus => ({
  name: 's',
  state: 'running',
  pid: 1,
  uptime_secs: 1,
  tools: 0,
  restarts: 0,
  retry_in_ms: null,
  last_error: null,
  command: 'npx thing',
  kind: 'stdio',
  enabled: true,
  tools_held: 0,
  ...over,
});

describe('server states as the list shows them', () => {
  it('names each state the hub sends', () => {
    const cases: [Partial<ServerStatus>, string, string][] = [
      [{ state: 'starting' }, 'starting', 'busy'],
      [{ state: 'running' }, 'running', 'ok'],
      [{ state: 'idle' }, 'idle (starts on first call)', 'muted'],
      [{ state: 'needs_sign_in' }, 'needs sign-in', 'warn'],
      [{ state: 'stopped' }, 'stopped', 'muted'],
      [{ state: 'restarting', retry_in_ms: null }, 'crashed, restarting', 'error'],
    ];
    for (const [over, label, tone] of cases) {
      const v = serverStateView(status(over));
      expect(v.label, JSON.stringify(over)).toBe(label);
      expect(v.tone, JSON.stringify(over)).toBe(tone);
    }
  });

  it('says when a crashed server restarts', () => {
    expect(serverStateView(status({ state: 'restarting', retry_in_ms: 2500 })).label).toBe('crashed, restarting in 2.5 s');
    expect(serverStateView(status({ state: 'restarting', retry_in_ms: 30_000 })).label).toBe('crashed, restarting in 30s');
  });

  it('counts the restart wait down from when the list was read', () => {
    expect(retryLeft(4000, 10_000, 10_000)).toBe(4000);
    expect(retryLeft(4000, 10_000, 11_500)).toBe(2500);
    expect(retryLeft(4000, 10_000, 20_000)).toBe(0);
    expect(retryLeft(null, 10_000, 11_000)).toBeNull();
    expect(serverStateView(status({ state: 'restarting', retry_in_ms: retryLeft(4000, 0, 5000) })).label).toBe('crashed, restarting');
  });

  it('shows a disabled server as disabled, not stopped, and hides the marker error', () => {
    const s = status({ state: 'stopped', last_error: 'disabled', enabled: false });
    expect(isDisabled(s)).toBe(true);
    expect(serverStateView(s)).toEqual({ word: 'disabled', label: 'disabled', tone: 'muted' });
    expect(shownError(s)).toBeNull();
  });

  it('goes by the config, not by the words of an error', () => {
    expect(isDisabled(status({ state: 'stopped', last_error: 'disabled' }))).toBe(false);
    expect(shownError(status({ state: 'stopped', last_error: 'exited with 1' }))).toBe('exited with 1');
  });

  it('shows a state it does not know in words', () => {
    expect(serverStateView(status({ state: 'warming_up' })).label).toBe('warming up');
  });

  it('tells remote from stdio by the kind the hub gives', () => {
    expect(isRemote(status({ command: 'https://mcp.example.com/mcp', kind: 'remote' }))).toBe(true);
    expect(isRemote(status({ command: 'https://example.com/run.sh' }))).toBe(false);
  });

  it('counts tools in words', () => {
    expect(toolCount(0)).toBe('0 tools');
    expect(toolCount(1)).toBe('1 tool');
    expect(toolCount(12)).toBe('12 tools');
  });
});

describe('the add form', () => {
  it('takes one argument per line, keeping spaces inside an argument', () => {
    expect(parseArgs('-y\n@scope/pkg\n\n  --dir  \r\nmy folder/x')).toEqual(['-y', '@scope/pkg', '--dir', 'my folder/x']);
  });

  it('reads KEY=value lines, keeping `=` in values', () => {
    expect(parseEnv('TZ=UTC\nQUERY=a=b\n\n')).toEqual({ env: { TZ: 'UTC', QUERY: 'a=b' }, problems: [] });
  });

  it('says which env line is wrong', () => {
    const { problems } = parseEnv('GOOD=1\nnonsense\n1BAD=x\nGOOD=2');
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('line 2');
    expect(problems[1]).toContain('`1BAD`');
    expect(problems[2]).toContain('set twice');
  });

  it('checks names as the config does', () => {
    expect(nameProblem('time')).toBeNull();
    expect(nameProblem('my-server_2')).toBeNull();
    expect(nameProblem('')).not.toBeNull();
    expect(nameProblem('-x')).not.toBeNull();
    expect(nameProblem('a__b')).not.toBeNull();
    expect(nameProblem('a b')).not.toBeNull();
    expect(nameProblem('x'.repeat(33))).not.toBeNull();
    expect(nameProblem('x'.repeat(32))).toBeNull();
  });

  it('builds the spec the shell receives', () => {
    const { spec, problems } = formSpec({ name: ' time ', command: ' uvx ', args: 'mcp-server-time\n--local-timezone=UTC', env: 'TZ=UTC', cwd: '' });
    expect(problems).toEqual([]);
    expect(spec).toEqual({ name: 'time', command: 'uvx', args: ['mcp-server-time', '--local-timezone=UTC'], env: { TZ: 'UTC' }, cwd: null });
  });

  it('refuses an empty form', () => {
    expect(formSpec(emptyForm()).problems.length).toBe(2);
  });
});

describe('Save waits for the exact command line', () => {
  const form = { name: 'time', command: 'uvx', args: 'mcp-server-time', env: '', cwd: '' };
  const preview = { key: specKey(formSpec(form).spec), commandLine: 'uvx mcp-server-time' };

  it('is off with no preview', () => {
    expect(canSave(form, null, false)).toBe(false);
  });

  it('is on once this form’s command line was shown', () => {
    expect(canSave(form, preview, false)).toBe(true);
  });

  it('is off again after any edit that changes the spec', () => {
    expect(canSave({ ...form, args: 'mcp-server-time\n--debug' }, preview, false)).toBe(false);
    expect(canSave({ ...form, env: 'TZ=UTC' }, preview, false)).toBe(false);
    expect(canSave({ ...form, cwd: '/tmp' }, preview, false)).toBe(false);
    expect(canSave({ ...form, name: 'time2' }, preview, false)).toBe(false);
  });

  it('stays on for edits that do not change the spec (blank lines, spaces at the edges)', () => {
    expect(canSave({ ...form, args: '\nmcp-server-time\n', command: 'uvx ' }, preview, false)).toBe(true);
  });

  it('is off while a request runs', () => {
    expect(canSave(form, preview, true)).toBe(false);
  });

  it('does not depend on env order', () => {
    const a = formSpec({ ...form, env: 'A=1\nB=2' }).spec;
    const b = formSpec({ ...form, env: 'B=2\nA=1' }).spec;
    expect(specKey(a)).toBe(specKey(b));
  });

  it('is off when the form became invalid, even with a matching key', () => {
    const bad = { ...form, env: 'oops' };
    const badPreview = { key: specKey(formSpec(bad).spec), commandLine: 'x' };
    expect(canSave(bad, badPreview, false)).toBe(false);
  });
});

describe('secret-looking env vars', () => {
  it('are pointed out', () => {
    expect(secretLookingKeys({ GITHUB_TOKEN: 'x', TZ: 'UTC', OPENAI_API_KEY: 'y', DB_PASSWORD: 'z' })).toEqual([
      'GITHUB_TOKEN',
      'OPENAI_API_KEY',
      'DB_PASSWORD',
    ]);
  });
});
