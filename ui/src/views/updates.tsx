/**
 * The app's own updates: one line at the top of the window (the version running, a check, a
 * found version with its notes and the Install button, the download, Restart), and the setting
 * that checks by itself. Install is the user's yes; nothing else installs.
 */
import { useEffect, useState } from 'preact/hooks';

import { api, onAppUpdate } from '../api';
import { errorMessage } from '../logic/errors';
import { type AppUpdateState, type UpdateAction, updateView } from '../logic/updates';
import { subscription } from '../resource';

const LABELS: Record<UpdateAction, string> = {
  check: 'Check for updates',
  install: 'Install',
  restart: 'Restart now',
};

export function AppUpdates() {
  const [state, setState] = useState<AppUpdateState | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.appUpdateState().then(setState, (err) => setError(errorMessage(err)));
    return subscription(onAppUpdate(setState));
  }, []);

  if (!state) {
    return error ? (
      <p class="inline-error" role="alert" data-testid="app-update-error">
        {error}
      </p>
    ) : null;
  }
  const view = updateView(state);
  const run = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      const answer = await what();
      if (answer && typeof answer === 'object' && 'phase' in answer) setState(answer as AppUpdateState);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const act: Record<UpdateAction, () => Promise<unknown>> = {
    check: api.checkAppUpdate,
    install: api.installAppUpdate,
    restart: api.restartApp,
  };
  return (
    <section class={`app-update tone-${view.tone}`} data-testid="app-update" data-state={state.phase.kind}>
      <span role="status" aria-live="polite" data-testid="app-update-status" data-state={state.phase.kind}>
        {view.text}
      </span>
      {view.actions.map((a) => (
        <button type="button" key={a} data-testid={`app-update-${a}`} onClick={() => void run(act[a])}>
          {LABELS[a]}
        </button>
      ))}
      {!state.off && (
        <label class="autostart">
          <input
            type="checkbox"
            data-testid="app-update-automatic"
            checked={state.automatic}
            onChange={(e) => void run(() => api.setUpdateChecks((e.currentTarget as HTMLInputElement).checked))}
          />
          Check daily
        </label>
      )}
      {view.notes && (
        <pre class="app-update-notes" data-testid="app-update-notes">
          {view.notes}
        </pre>
      )}
      {error && (
        <span class="inline-error" role="alert" data-testid="app-update-error">
          {error}
        </span>
      )}
    </section>
  );
}
