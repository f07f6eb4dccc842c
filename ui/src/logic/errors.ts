/**
 * Errors as the user reads them. The shell rejects with `{code, message}`; anything else (a
 * bare string, an `Error`, a JSON text) is brought to that shape so a view only ever shows a
 * sentence, never `[object Object]` or a debug dump.
 */
import type { ApiError } from '../types';

const FALLBACK = 'something went wrong, and the app was given no reason';

function fromObject(value: object): ApiError | null {
  const { code, message, error } = value as { code?: unknown; message?: unknown; error?: unknown };
  const text =
    typeof message === 'string' && message.trim()
      ? message.trim()
      : typeof error === 'string' && error.trim()
        ? error.trim()
        : null;
  if (text === null) return null;
  return { code: typeof code === 'string' && code ? code : 'error', message: text };
}

/** Any rejection as `{code, message}`. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof Error) {
    return { code: 'error', message: err.message.trim() || FALLBACK };
  }
  if (typeof err === 'string') {
    const text = err.trim();
    if (text.startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === 'object') {
          const found = fromObject(parsed);
          if (found) return found;
        }
      } catch {
        // not JSON: the string is the message
      }
    }
    return { code: 'error', message: text || FALLBACK };
  }
  if (err && typeof err === 'object') {
    return fromObject(err) ?? { code: 'error', message: FALLBACK };
  }
  return { code: 'error', message: FALLBACK };
}

/** The sentence to show for a rejection. */
export function errorMessage(err: unknown): string {
  return toApiError(err).message;
}
