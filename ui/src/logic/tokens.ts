/** The Tokens view's logic: state words, the expiry instant, and which buttons make sense. */
import type { TokenActions, TokenStatus } from '../types';
import type { Tone } from './servers';

export function tokenStateView(state: string): { label: string; tone: Tone } {
  switch (state) {
    case 'valid':
      return { label: 'valid', tone: 'ok' };
    case 'expiring':
      return { label: 'expiring (refresh due)', tone: 'warn' };
    case 'refreshing':
      return { label: 'refreshing', tone: 'busy' };
    case 'needs_sign_in':
      return { label: 'needs sign-in', tone: 'error' };
    case 'revoked':
      return { label: 'revoked', tone: 'muted' };
    case 'header':
      return { label: 'static header', tone: 'ok' };
    case 'none':
      return { label: 'no credentials', tone: 'muted' };
    default:
      return { label: state.replace(/_/g, ' '), tone: 'muted' };
  }
}

/**
 * When the access token expires, in ms since the epoch: `expires_at` (Unix seconds) when the
 * hub gave it, else `expires_in` counted from when the list was read.
 */
export function expiresAtMs(t: Pick<TokenStatus, 'expires_at' | 'expires_in'>, readAtMs: number): number | null {
  if (t.expires_at != null) return t.expires_at * 1000;
  if (t.expires_in != null) return readAtMs + t.expires_in * 1000;
  return null;
}

/**
 * What a token row offers: the hub's word on it (`actions`), nothing when it gave none (a hub
 * older than the field, or a state just changed by an event, until the list is read again).
 */
export function tokenActions(t: Pick<TokenStatus, 'actions'>): TokenActions {
  return t.actions ?? NO_ACTIONS;
}

export const NO_ACTIONS: TokenActions = { refresh: false, revoke: false, sign_in: false };

/** Scopes as one line; `none` rather than an empty cell. */
export function scopesText(scopes: string[]): string {
  return scopes.length ? scopes.join(' ') : 'none';
}
