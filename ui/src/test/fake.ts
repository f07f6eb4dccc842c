/** A scripted shell for tests: answers commands from handlers, records every call, and emits
 * `hub-event`s on demand. */
import type { Transport } from '../api';

export type Handler = (args: Record<string, unknown>) => unknown;

export interface Fake {
  transport: Transport;
  calls: { command: string; args: Record<string, unknown> | undefined }[];
  /** Deliver a `hub-event` payload to every listener. */
  emit: (payload: unknown) => void;
  /** Deliver a payload to every listener of another event. */
  emitTo: (event: string, payload: unknown) => void;
  /** Replace or add handlers. */
  on: (handlers: Record<string, Handler>) => void;
  callsOf: (command: string) => (Record<string, unknown> | undefined)[];
}

export function fakeShell(initial: Record<string, Handler> = {}): Fake {
  const handlers: Record<string, Handler> = { ...initial };
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const calls: Fake['calls'] = [];
  const transport: Transport = {
    invoke: async (command, args) => {
      calls.push({ command, args });
      const handler = handlers[command];
      if (!handler) throw { code: 'unknown_command', message: `no handler for \`${command}\`` };
      return handler(args ?? {});
    },
    listen: async (event, handler) => {
      const set = listeners.get(event) ?? new Set();
      set.add(handler);
      listeners.set(event, set);
      return () => set.delete(handler);
    },
  };
  return {
    transport,
    calls,
    emit: (payload) => listeners.get('hub-event')?.forEach((l) => l(payload)),
    emitTo: (event, payload) => listeners.get(event)?.forEach((l) => l(payload)),
    on: (more) => Object.assign(handlers, more),
    callsOf: (command) => calls.filter((c) => c.command === command).map((c) => c.args),
  };
}
