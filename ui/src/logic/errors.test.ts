import { describe, expect, it } from 'vitest';

import { errorMessage, toApiError } from './errors';

describe('errors reach the user as a sentence', () => {
  it('keeps the shell’s {code, message}', () => {
    expect(toApiError({ code: 'not_found', message: 'no server named `x`' })).toEqual({
      code: 'not_found',
      message: 'no server named `x`',
    });
  });

  it('reads the hub’s {error} shape too', () => {
    expect(errorMessage({ error: 'a server named `time` exists already' })).toBe('a server named `time` exists already');
  });

  it('parses a JSON string the shell may have stringified', () => {
    expect(toApiError('{"code":"conflict","message":"name taken"}')).toEqual({ code: 'conflict', message: 'name taken' });
  });

  it('uses a plain string as the message', () => {
    expect(errorMessage('  cannot reach the hub  ')).toBe('cannot reach the hub');
  });

  it('uses an Error’s message', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
  });

  it('never shows [object Object] or an empty message', () => {
    for (const odd of [{}, { code: 'x' }, { message: '   ' }, null, undefined, 42, '']) {
      const message = errorMessage(odd);
      expect(message).not.toContain('[object');
      expect(message.trim().length).toBeGreaterThan(0);
    }
  });
});
