/**
 * The Servers view's logic: what a state is called and how it looks, and the add form, whose
 * Save stays off until the exact command line of the form as it is now has been shown.
 */
import type { ServerSpec, ServerStatus } from '../types';
import { formatSpan } from './time';

/** How a badge looks; `data-tone` in the DOM. */
export type Tone = 'ok' | 'busy' | 'warn' | 'error' | 'muted';

export interface StateView {
  /** The stable word (`data-state`): the hub's, or `disabled`. */
  word: string;
  /** What the user reads. */
  label: string;
  tone: Tone;
}

/** A remote server (the hub reaches it at a URL, its `command`). */
export function isRemote(s: Pick<ServerStatus, 'kind'>): boolean {
  return s.kind === 'remote';
}

/** Disabled in the config. */
export function isDisabled(s: Pick<ServerStatus, 'enabled'>): boolean {
  return s.enabled === false;
}

/** The state as the list shows it. */
export function serverStateView(s: Pick<ServerStatus, 'state' | 'enabled' | 'retry_in_ms'>): StateView {
  if (isDisabled(s)) return { word: 'disabled', label: 'disabled', tone: 'muted' };
  switch (s.state) {
    case 'starting':
      return { word: 'starting', label: 'starting', tone: 'busy' };
    case 'running':
      return { word: 'running', label: 'running', tone: 'ok' };
    case 'idle':
      return { word: 'idle', label: 'idle (starts on first call)', tone: 'muted' };
    case 'restarting': {
      const wait = s.retry_in_ms != null && s.retry_in_ms > 0 ? ` in ${formatRetry(s.retry_in_ms)}` : '';
      return { word: 'restarting', label: `crashed, restarting${wait}`, tone: 'error' };
    }
    case 'needs_sign_in':
      return { word: 'needs_sign_in', label: 'needs sign-in', tone: 'warn' };
    case 'stopped':
      return { word: 'stopped', label: 'stopped', tone: 'muted' };
    default:
      return { word: s.state, label: s.state.replace(/_/g, ' '), tone: 'muted' };
  }
}

function formatRetry(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : formatSpan(ms / 1000);
}

/** The restart wait left now, from the wait the hub gave at `readAtMs`. */
export function retryLeft(retryInMs: number | null, readAtMs: number, nowMs: number): number | null {
  if (retryInMs == null) return null;
  return Math.max(0, retryInMs - Math.max(0, nowMs - readAtMs));
}

/** The last error worth showing (a disabled server's, `disabled`, says what its badge says). */
export function shownError(s: Pick<ServerStatus, 'last_error' | 'enabled'>): string | null {
  return isDisabled(s) ? null : s.last_error;
}

/** `3 tools`, `1 tool`. */
export function toolCount(n: number): string {
  return `${n} ${n === 1 ? 'tool' : 'tools'}`;
}

// ---------------------------------------------------------------------------------------------
// The add form

/** The form's raw text, as typed. */
export interface AddForm {
  name: string;
  command: string;
  /** One argument per line, exactly (no shell quoting to get wrong). */
  args: string;
  /** `KEY=value`, one per line. */
  env: string;
  /** Working directory; empty for none. */
  cwd: string;
}

export const emptyForm = (): AddForm => ({ name: '', command: '', args: '', env: '', cwd: '' });

/** What `check_name` in config.rs accepts. */
export function nameProblem(name: string): string | null {
  if (name === '') return 'give the server a name';
  if (name.length > 32) return 'a name has at most 32 characters';
  if (!/^[A-Za-z0-9]/.test(name)) return 'a name starts with a letter or a digit';
  if (!/^[A-Za-z0-9_-]+$/.test(name)) return 'a name uses only letters, digits, `-` and `_`';
  if (name.includes('__')) return 'a name cannot contain `__` (it separates server and tool)';
  return null;
}

/** The argument lines: one argument each; blank lines are skipped, edges trimmed. */
export function parseArgs(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `KEY=value` lines into a map; problems are said per line. */
export function parseEnv(text: string): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      problems.push(`environment line ${i + 1}: write it as KEY=value`);
      return;
    }
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      problems.push(`environment line ${i + 1}: \`${key}\` is not a variable name`);
      return;
    }
    if (Object.hasOwn(env, key)) {
      problems.push(`environment line ${i + 1}: \`${key}\` is set twice`);
      return;
    }
    env[key] = line.slice(eq + 1);
  });
  return { env, problems };
}

/** The form as a server spec, with what is wrong with it. */
export function formSpec(form: AddForm): { spec: ServerSpec; problems: string[] } {
  const name = form.name.trim();
  const command = form.command.trim();
  const { env, problems } = parseEnv(form.env);
  const all: string[] = [];
  const bad = nameProblem(name);
  if (bad) all.push(bad);
  if (command === '') all.push('give the command to run (e.g. `npx`)');
  all.push(...problems);
  const cwd = form.cwd.trim();
  return { spec: { name, command, args: parseArgs(form.args), env, cwd: cwd === '' ? null : cwd }, problems: all };
}

/** A key for "the same spec": the preview is only good for the spec it was made from. */
export function specKey(spec: ServerSpec): string {
  const env = Object.keys(spec.env)
    .sort()
    .map((k) => [k, spec.env[k]]);
  return JSON.stringify([spec.name, spec.command, spec.args, env, spec.cwd]);
}

/** A preview the hub made, and of what. */
export interface Preview {
  key: string;
  commandLine: string;
}

/** Save is on only when the form is valid and its exact command line is on screen. */
export function canSave(form: AddForm, preview: Preview | null, busy: boolean): boolean {
  if (busy || preview === null) return false;
  const { spec, problems } = formSpec(form);
  return problems.length === 0 && preview.key === specKey(spec);
}

/** Env values are written to the config file in clear: say which ones look like secrets. */
export function secretLookingKeys(env: Record<string, string>): string[] {
  return Object.keys(env).filter((k) => /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL)/i.test(k));
}
