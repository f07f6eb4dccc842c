import { describe, expect, it } from 'vitest';

import { expiresAtMs, scopesText, tokenActions, tokenStateView } from './tokens';
import type { TokenStatus } from '../types';

describe('tokens', () => {
  it('prefers the absolute expiry, else counts expires_in from the read', () => {
    expect(expiresAtMs({ expires_at: 1_800_000_000, expires_in: 5 }, 42)).toBe(1_800_000_000_000);
    expect(expiresAtMs({ expires_at: null, expires_in: 60 }, 1000)).toBe(61_000);
    expect(expiresAtMs({ expires_at: null, expires_in: null }, 1000)).toBeNull();
  });

  // Which actions apply is the hub's rule (oauth::keeper::TokenActions, tested there).
  it('offers what the hub says, and nothing when it said nothing', () => {
    const actions = { refresh: false, revoke: true, sign_in: true };
    expect(tokenActions({ actions })).toEqual(actions);
    expect(tokenActions({} as Pick<TokenStatus, 'actions'>)).toEqual({ refresh: false, revoke: false, sign_in: false });
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
