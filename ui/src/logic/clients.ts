/**
 * The Clients view's logic: detected / installed / drifted, the buttons each row offers, and
 * the tool-limit warning `patchbay clients` prints (the served tools against the client's limit).
 */
import type { ClientStatus, ServerStatus } from '../types';
import type { Tone } from './servers';
import { isDisabled } from './servers';

/** The client rewrote or dropped our entry. */
export function isDrifted(c: Pick<ClientStatus, 'entry'>): boolean {
  return c.entry === 'changed' || c.entry === 'missing';
}

export function clientStateView(c: Pick<ClientStatus, 'entry' | 'detected' | 'error'>): {
  word: string;
  label: string;
  tone: Tone;
} {
  if (c.error) return { word: 'unreadable', label: 'config unreadable', tone: 'error' };
  switch (c.entry) {
    case 'intact':
      return { word: 'installed', label: 'installed', tone: 'ok' };
    case 'changed':
      return { word: 'drifted', label: 'drifted: our entry was changed', tone: 'warn' };
    case 'missing':
      return { word: 'drifted', label: 'drifted: our entry is gone', tone: 'warn' };
    default:
      return c.detected
        ? { word: 'detected', label: 'detected, not installed', tone: 'muted' }
        : { word: 'not_detected', label: 'not detected', tone: 'muted' };
  }
}

/** The buttons a row shows; `install` is the label, or `null` when there is nothing to install. */
export function clientActions(c: Pick<ClientStatus, 'entry' | 'installed'>): {
  install: 'Install' | 'Repair' | null;
  uninstall: boolean;
  restore: boolean;
} {
  return {
    install: c.entry === 'intact' ? null : isDrifted(c) ? 'Repair' : 'Install',
    uninstall: c.installed || isDrifted(c),
    // a backup exists only once Patchbay changed the file; the hub says so if there is none
    restore: true,
  };
}

/**
 * Tools this client would see: the hub's count when it gives one, else (no profile) every
 * enabled server's tools; `null` when it cannot be known here.
 */
export function servedTools(c: Pick<ClientStatus, 'profile' | 'served_tools'>, servers: ServerStatus[]): number | null {
  if (c.served_tools != null) return c.served_tools;
  if (c.profile) return null;
  return servers.filter((s) => !isDisabled(s)).reduce((n, s) => n + s.tools, 0);
}

/** The warning for a client whose limit the served tools exceed, as `patchbay clients` says it. */
export function toolLimitWarning(
  c: Pick<ClientStatus, 'name' | 'tool_limit' | 'profile' | 'served_tools' | 'installed' | 'detected'>,
  servers: ServerStatus[],
): string | null {
  if (c.tool_limit == null || !(c.installed || c.detected)) return null;
  const served = servedTools(c, servers);
  if (served === null || served <= c.tool_limit) return null;
  const who = c.profile ? `profile \`${c.profile}\` serves` : 'the hub serves';
  return `${who} ${served} tools and ${c.name} uses at most ${c.tool_limit}: disable servers it does not need, or install it with a profile`;
}

/** What the user does after a change to the client's file. */
export function restartNote(name: string, reload: string | null | undefined): string {
  return reload ? `Next: ${reload}.` : `Restart ${name} so it picks up the change.`;
}
