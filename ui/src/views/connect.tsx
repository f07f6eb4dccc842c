/** Connect: paste a remote server's URL; the hub probes it and signs in through the browser. */
import { useState } from 'preact/hooks';

import { api } from '../api';
import type { TrackedFlow } from '../app';
import { errorMessage } from '../logic/errors';
import { connectRequest, flowStatus } from '../logic/flow';
import { Page } from './common';
import { FlowPanel } from './flow';

export function ConnectPage(props: { flow: TrackedFlow | null; onStarted: (flow: string) => void }) {
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [clientId, setClientId] = useState('');
  const [scopes, setScopes] = useState('');
  const [starting, setStarting] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [startError, setStartError] = useState<string | null>(null);

  const running = props.flow ? flowStatus(props.flow.state).busy : false;

  const submit = async (e: Event) => {
    e.preventDefault();
    const built = connectRequest({ url, name, clientId, scopes });
    if ('problem' in built) {
      setProblem(built.problem);
      return;
    }
    setProblem(null);
    setStartError(null);
    setStarting(true);
    try {
      props.onStarted(await api.startConnect(built.request));
    } catch (err) {
      setStartError(errorMessage(err));
    } finally {
      setStarting(false);
    }
  };

  return (
    <Page id="connect" title="Connect a remote server">
      <form class="card" onSubmit={(e) => void submit(e)} noValidate>
        <div class="field">
          <label for="connect-url">Server URL</label>
          <input
            id="connect-url"
            type="url"
            data-testid="connect-url"
            placeholder="https://mcp.example.com/mcp"
            autoComplete="url"
            spellcheck={false}
            value={url}
            aria-invalid={problem ? true : undefined}
            aria-describedby={problem ? 'connect-problem' : 'connect-url-help'}
            onInput={(e) => setUrl((e.currentTarget as HTMLInputElement).value)}
          />
          <small id="connect-url-help">
            Patchbay checks the server, opens your browser when it asks you to sign in, and keeps the tokens in your
            keychain.
          </small>
          {problem && (
            <p id="connect-problem" class="inline-error" role="alert" data-testid="connect-problem">
              {problem}
            </p>
          )}
        </div>
        <div class="field">
          <label for="connect-name">Name (optional)</label>
          <input
            id="connect-name"
            data-testid="connect-name"
            autoComplete="off"
            spellcheck={false}
            value={name}
            aria-describedby="connect-name-help"
            onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
          />
          <small id="connect-name-help">Taken from the host when empty.</small>
        </div>
        <details>
          <summary>Advanced</summary>
          <div class="field">
            <label for="connect-client-id">Client ID from the provider (optional)</label>
            <input
              id="connect-client-id"
              data-testid="connect-client-id"
              autoComplete="off"
              spellcheck={false}
              value={clientId}
              onInput={(e) => setClientId((e.currentTarget as HTMLInputElement).value)}
            />
          </div>
          <div class="field">
            <label for="connect-scopes">Scopes, separated by spaces (optional)</label>
            <input
              id="connect-scopes"
              data-testid="connect-scopes"
              autoComplete="off"
              spellcheck={false}
              value={scopes}
              onInput={(e) => setScopes((e.currentTarget as HTMLInputElement).value)}
            />
          </div>
        </details>
        <div class="buttons">
          <button type="submit" class="primary" data-testid="connect-submit" disabled={starting || running}>
            Connect
          </button>
        </div>
      </form>
      <FlowPanel flow={startError ? null : props.flow} prefix="connect" startError={startError} />
    </Page>
  );
}
