/** A list read from the hub: its data, the error of its last read, and a way to re-read it. */
import { useCallback, useRef, useState } from 'preact/hooks';

import { errorMessage } from './logic/errors';

export interface Resource<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  /** When the data was read (ms since the epoch). */
  readAt: number;
}

export interface ResourceHandle<T> {
  state: Resource<T>;
  reload: () => Promise<void>;
  /** Patch the data in place (from an event). */
  update: (change: (data: T) => T) => void;
}

export function useResource<T>(load: () => Promise<T>): ResourceHandle<T> {
  const [state, setState] = useState<Resource<T>>({ data: null, error: null, loading: false, readAt: 0 });
  const seq = useRef(0);
  const loader = useRef(load);
  loader.current = load;
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await loader.current();
      // an older read answering late must not overwrite a newer one
      if (mine === seq.current) setState({ data, error: null, loading: false, readAt: Date.now() });
    } catch (err) {
      if (mine === seq.current) setState((s) => ({ ...s, error: errorMessage(err), loading: false }));
    }
  }, []);
  const update = useCallback((change: (data: T) => T) => {
    setState((s) => (s.data === null ? s : { ...s, data: change(s.data) }));
  }, []);
  return { state, reload, update };
}

/**
 * Keep the subscription `started` makes; the returned cleanup ends it, also when it runs before
 * the subscription is made. `failed` hears a subscription that could not be made.
 */
export function subscription(started: Promise<() => void>, failed: (err: unknown) => void = () => undefined): () => void {
  let unlisten: (() => void) | null = null;
  let gone = false;
  started.then((stop) => {
    if (gone) stop();
    else unlisten = stop;
  }, failed);
  return () => {
    gone = true;
    unlisten?.();
  };
}
