/** The Activity view's logic: outcome words. */
import type { Tone } from './servers';

export function outcomeView(outcome: string): { label: string; tone: Tone } {
  switch (outcome) {
    case 'ok':
      return { label: 'ok', tone: 'ok' };
    case 'tool_error':
      return { label: 'tool error', tone: 'warn' };
    case 'error':
      return { label: 'error', tone: 'error' };
    case 'cancelled':
      return { label: 'cancelled', tone: 'muted' };
    default:
      return { label: outcome.replace(/_/g, ' '), tone: 'muted' };
  }
}
