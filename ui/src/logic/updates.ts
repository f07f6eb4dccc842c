/**
 * The app's own updates as the window shows them: the shell's state (`src-tauri/src/updates.rs`,
 * sent as the `app-update` event and answered by its commands) made one line and the buttons it
 * allows. Nothing is installed without the Install button: a check only finds.
 */

/** Where a check or an install stands (the Rust `Phase`, tagged by `kind`). */
export type UpdatePhase =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'up_to_date' }
  | { kind: 'available'; version: string; notes: string | null; date: string | null }
  | { kind: 'downloading'; version: string; downloaded: number; total: number | null }
  | { kind: 'installed'; version: string }
  | { kind: 'failed'; message: string };

/** The shell's update state (the Rust `UpdateState`). */
export type AppUpdateState = {
  current: string;
  off: string | null;
  automatic: boolean;
  phase: UpdatePhase;
};

/** A button the update line offers. */
export type UpdateAction = 'check' | 'install' | 'restart';

/** One line and its buttons. */
export type UpdateView = {
  text: string;
  tone: 'info' | 'busy' | 'notice' | 'error';
  actions: UpdateAction[];
  /** Release notes of an available version, shown under the line. */
  notes: string | null;
};

/** `12.5 MB`: bytes for a person, one decimal from a megabyte. */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** What the update line says and offers for `state`. */
export function updateView(state: AppUpdateState): UpdateView {
  const plain = (text: string, tone: UpdateView['tone'], actions: UpdateAction[] = []): UpdateView => ({
    text,
    tone,
    actions,
    notes: null,
  });
  if (state.off) return plain(`Patchbay ${state.current}: updates are off (${state.off})`, 'info');
  const p = state.phase;
  switch (p.kind) {
    case 'idle':
      return plain(`Patchbay ${state.current}`, 'info', ['check']);
    case 'checking':
      return plain('Checking for updates…', 'busy');
    case 'up_to_date':
      return plain(`Patchbay ${state.current} is up to date`, 'info', ['check']);
    case 'available':
      return {
        text: `Patchbay ${p.version} is available (you have ${state.current})`,
        tone: 'notice',
        actions: ['install'],
        notes: p.notes && p.notes.trim() ? p.notes.trim() : null,
      };
    case 'downloading': {
      const of = p.total ? ` of ${byteSize(p.total)}` : '';
      return plain(`Downloading Patchbay ${p.version}: ${byteSize(p.downloaded)}${of}`, 'busy');
    }
    case 'installed':
      return plain(`Patchbay ${p.version} is installed: restart to use it`, 'notice', ['restart']);
    case 'failed':
      return plain(p.message, 'error', ['check']);
  }
}

/** A payload of the `app-update` event, or `null` when it is not one. */
export function parseUpdateState(payload: unknown): AppUpdateState | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const s = payload as Partial<AppUpdateState>;
  const phase = s.phase as { kind?: unknown } | undefined;
  if (typeof s.current !== 'string' || typeof s.automatic !== 'boolean') return null;
  if (typeof phase !== 'object' || phase === null || typeof phase.kind !== 'string') return null;
  return payload as AppUpdateState;
}
