/** A sign-in under way: its status line, steps, the authorization link, Cancel, and the result. */
import { useState } from 'preact/hooks';

import { api } from '../api';
import type { TrackedFlow } from '../app';
import { errorMessage } from '../logic/errors';
import { flowStatus } from '../logic/flow';
import { scopesText } from '../logic/tokens';
import { Badge } from './common';

/**
 * `prefix` names the test ids: `<prefix>-status`, `<prefix>-cancel`, `<prefix>-auth-url`,
 * `<prefix>-copy-url`, `<prefix>-steps`, `<prefix>-result`, `<prefix>-hint`.
 */
export function FlowPanel(props: { flow: TrackedFlow | null; prefix: string; startError?: string | null }) {
  const { flow, prefix } = props;
  const [note, setNote] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const status = flow ? flowStatus(flow.state) : null;

  const cancel = async () => {
    if (!flow) return;
    setCancelling(true);
    try {
      await api.cancelSignIn(flow.state.flow);
    } catch (err) {
      setNote(errorMessage(err));
    } finally {
      setCancelling(false);
    }
  };

  const openLink = async (e: Event, url: string) => {
    // Never navigate this webview away: the system browser opens it.
    e.preventDefault();
    try {
      await api.openExternal(url);
      setNote(null);
    } catch (err) {
      setNote(`Could not open the browser (${errorMessage(err)}): copy the link instead.`);
    }
  };

  const copy = async (url: string) => {
    try {
      await navigator.clipboard.writeText(url);
      setNote('Link copied.');
    } catch {
      setNote('Could not copy: select the link and copy it.');
    }
  };

  const text = props.startError ? `Failed: ${props.startError}` : (status?.text ?? '');
  const tone = props.startError ? 'error' : status?.tone;
  return (
    <div class="flow" data-testid={`${prefix}-flow`}>
      <p
        class="status"
        role="status"
        aria-live="polite"
        data-tone={tone}
        data-busy={status?.busy ? 'true' : undefined}
        data-testid={`${prefix}-status`}
      >
        {text}
      </p>
      {flow && status && (
        <>
          {status.authUrl && (
            <div class="auth-url">
              <p>If no browser window opened, open this link to sign in:</p>
              <a
                href={status.authUrl}
                target="_blank"
                rel="noopener noreferrer"
                data-testid={`${prefix}-auth-url`}
                onClick={(e) => void openLink(e, status.authUrl as string)}
              >
                {status.authUrl}
              </a>
              <button type="button" data-testid={`${prefix}-copy-url`} onClick={() => void copy(status.authUrl as string)}>
                Copy link
              </button>
            </div>
          )}
          {status.busy && (
            <button
              type="button"
              data-testid={`${prefix}-cancel`}
              disabled={cancelling}
              onClick={() => void cancel()}
            >
              Cancel sign-in
            </button>
          )}
          {flow.state.hint && !status.busy && (
            <p class="hint" data-testid={`${prefix}-hint`}>
              {flow.state.hint}
            </p>
          )}
          {flow.state.connected && (
            <dl class="result" data-testid={`${prefix}-result`}>
              <dt>Server</dt>
              <dd>{flow.state.connected.server}</dd>
              <dt>URL</dt>
              <dd>
                <code>{flow.state.connected.url}</code>
              </dd>
              <dt>Authentication</dt>
              <dd>{flow.state.connected.auth}</dd>
              {flow.state.connected.issuer && (
                <>
                  <dt>Issuer</dt>
                  <dd>{flow.state.connected.issuer}</dd>
                </>
              )}
              {flow.state.connected.auth === 'oauth' && (
                <>
                  <dt>Scopes</dt>
                  <dd>{scopesText(flow.state.connected.scopes)}</dd>
                </>
              )}
            </dl>
          )}
          {flow.state.progress.length > 0 && (
            <details class="steps">
              <summary>Steps ({flow.state.progress.length})</summary>
              <ol data-testid={`${prefix}-steps`}>
                {flow.state.progress.map((p, i) => (
                  <li key={i} data-stage={p.stage}>
                    <Badge tone="muted" label={p.stage.replace(/_/g, ' ')} /> {p.message}
                  </li>
                ))}
              </ol>
            </details>
          )}
          {flow.pollError && (
            <p class="inline-error" role="alert">
              Lost track of the sign-in: {flow.pollError}
            </p>
          )}
        </>
      )}
      {note && (
        <p class="muted" role="status">
          {note}
        </p>
      )}
    </div>
  );
}
