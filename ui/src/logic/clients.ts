/**
 * The Clients view's logic: detected / installed / drifted, the buttons each row offers, and
 * the tool-limit warning `patchbay clients` prints (the served tools against the client's limit).
 */
import type { ClientStatus, ProfileStatus, ServerStatus } from '../types';
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

/**
 * The warning for a client whose limit the served tools exceed, as `patchbay clients` says it,
 * naming the profile that fits when the hub suggests one.
 */
export function toolLimitWarning(
  c: Pick<ClientStatus, 'name' | 'tool_limit' | 'profile' | 'served_tools' | 'fitting_profile' | 'installed' | 'detected'>,
  servers: ServerStatus[],
): string | null {
  if (c.tool_limit == null || !(c.installed || c.detected)) return null;
  const served = servedTools(c, servers);
  if (served === null || served <= c.tool_limit) return null;
  const who = c.profile ? `profile \`${c.profile}\` serves` : 'the hub serves';
  const fits = c.fitting_profile;
  const remedy = fits
    ? `install it with profile \`${fits.name}\` (${fits.served_tools} tools)`
    : 'install it with a profile';
  return `${who} ${served} tools and ${c.name} uses at most ${c.tool_limit}: disable servers it does not need, or ${remedy}`;
}

/** The choices of what a client's entry serves: every server (value `''`), then each profile. */
export function profileChoices(profiles: ProfileStatus[]): { value: string; label: string }[] {
  return [
    { value: '', label: 'every server' },
    ...profiles.map((p) => ({
      value: p.name,
      label: `profile ${p.name} (${p.served_tools} ${p.served_tools === 1 ? 'tool' : 'tools'})`,
    })),
  ];
}

/**
 * The install button for a row given the profile chosen for it: the usual Install/Repair, or
 * `Apply` when the entry is intact but serves another profile than the one chosen.
 */
export function installLabel(
  c: Pick<ClientStatus, 'entry' | 'installed' | 'profile'>,
  chosen: string,
): 'Install' | 'Repair' | 'Apply' | null {
  const install = clientActions(c).install;
  if (install) return install;
  return c.entry === 'intact' && chosen !== (c.profile ?? '') ? 'Apply' : null;
}

/** One line for what a profile serves: its servers and tool patterns. */
export function profileSummary(p: Pick<ProfileStatus, 'servers' | 'tools'>): string {
  const servers = p.servers.length === 0 ? 'every server' : p.servers.join(', ');
  return p.tools.length === 0 ? servers : `${servers}; tools ${p.tools.join(', ')}`;
}

/** What the user does after a change to the client's file. */
export function restartNote(name: string, reload: string | null | undefined): string {
  return reload ? `Next: ${reload}.` : `Restart ${name} so it picks up the change.`;
}
