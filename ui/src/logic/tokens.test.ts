import { describe, expect, it } from 'vitest';

import { expiresAtMs, scopesText, tokenActions, tokenStateView } from './tokens';

describe('tokens', () => {
  it('prefers the absolute expiry, else counts expires_in from the read', () => {
    expect(expiresAtMs({ expires_at: 1_800_000_000, expires_in: 5 }, 42)).toBe(1_800_000_000_000);
    expect(expiresAtMs({ expires_at: null, expires_in: 60 }, 1000)).toBe(61_000);
    expect(expiresAtMs({ expires_at: null, expires_in: null }, 1000)).toBeNull();
  });

  it('offers Refresh only with a refresh token, and not while one runs', () => {
    expect(tokenActions({ state: 'valid', refresh_token: true })).toEqual({ refresh: true, revoke: true, signIn: true });
    expect(tokenActions({ state: 'valid', refresh_token: false }).refresh).toBe(false);
    expect(tokenActions({ state: 'refreshing', refresh_token: true }).refresh).toBe(false);
  });

  it('offers nothing to revoke when nothing is held', () => {
    expect(tokenActions({ state: 'revoked', refresh_token: false })).toEqual({ refresh: false, revoke: false, signIn: true });
    expect(tokenActions({ state: 'none', refresh_token: false }).revoke).toBe(false);
  });

  it('does not offer an OAuth sign-in for a static header', () => {
    expect(tokenActions({ state: 'header', refresh_token: false })).toEqual({ refresh: false, revoke: true, signIn: false });
  });

  it('names the states', () => {
    expect(tokenStateView('needs_sign_in')).toEqual({ label: 'needs sign-in', tone: 'error' });
    expect(tokenStateView('valid').tone).toBe('ok');
    expect(tokenStateView('brand_new').label).toBe('brand new');
  });

  it('prints scopes', () => {
    expect(scopesText(['a', 'b'])).toBe('a b');
    expect(scopesText([])).toBe('none');
  });
});
