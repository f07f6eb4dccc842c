/** Tokens: per remote server, its credentials' state and expiry (never a token). */
import { useState } from 'preact/hooks';

import { api } from '../api';
import type { TrackedFlow } from '../app';
import { errorMessage } from '../logic/errors';
import { formatCountdown } from '../logic/time';
import { expiresAtMs, scopesText, tokenActions, tokenStateView } from '../logic/tokens';
import type { ResourceHandle } from '../resource';
import type { TokenStatus } from '../types';
import { Badge, ConfirmButton, ListState, Page, StatusLine, useNow } from './common';
import type { Status } from './common';
import { FlowPanel } from './flow';

export function TokensPage(props: {
  tokens: ResourceHandle<TokenStatus[]>;
  flow: TrackedFlow | null;
  onSignIn: (flow: string, server: string) => void;
}) {
  const { state, reload, update } = props.tokens;
  const list = state.data ?? [];
  const now = useNow(1000);
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const act = async (key: string, work: () => Promise<string>) => {
    setBusy(key);
    try {
      setStatus({ text: await work(), tone: 'ok' });
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(null);
    }
  };

  const refresh = (t: TokenStatus) =>
    act(`refresh-${t.server}`, async () => {
      const fresh = await api.refreshToken(t.server);
      if (fresh && typeof fresh === 'object' && fresh.server === t.server) {
        update((all) => all.map((x) => (x.server === t.server ? fresh : x)));
      } else {
        await reload();
      }
      return `Refreshed the tokens of \`${t.server}\`.`;
    });

  const revoke = (t: TokenStatus) =>
    act(`revoke-${t.server}`, async () => {
      const r = await api.revokeToken(t.server);
      await reload();
      const where = r?.at_provider ? 'at the provider and in the keychain' : 'in the keychain';
      const note = r?.note ? ` (${r.note})` : '';
      return `Revoked the tokens of \`${t.server}\` ${where}${note}.`;
    });

  const signIn = (t: TokenStatus) =>
    act(`signin-${t.server}`, async () => {
      props.onSignIn(await api.signInAgain(t.server), t.server);
      return `Signing in to \`${t.server}\` again.`;
    });

  return (
    <Page
      id="tokens"
      title="Tokens"
      actions={
        <button type="button" data-testid="tokens-refresh-list" onClick={() => void reload()}>
          Refresh list
        </button>
      }
    >
      <StatusLine status={status} testid="tokens-status" />
      {props.flow && <FlowPanel flow={props.flow} prefix="token-signin" />}
      <ListState
        loading={state.loading}
        error={state.error}
        empty={list.length === 0}
        emptyText="No remote servers: connect one on the Connect page."
        testid="tokens"
      />
      {list.length > 0 && (
        <table class="list" data-testid="tokens-table">
          <caption class="visually-hidden">Credentials of remote servers</caption>
          <thead>
            <tr>
              <th scope="col">Server</th>
              <th scope="col">State</th>
              <th scope="col">Issuer</th>
              <th scope="col">Scopes</th>
              <th scope="col">Access token expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((t) => {
              const view = tokenStateView(t.state);
              const can = tokenActions(t);
              const at = expiresAtMs(t, state.readAt);
              return (
                <tr key={t.server} data-testid={`token-row-${t.server}`} data-state={t.state}>
                  <th scope="row">
                    <span class="name">{t.server}</span>
                    <code class="command">{t.url}</code>
                  </th>
                  <td>
                    <Badge tone={view.tone} label={view.label} word={t.state} testid={`token-state-${t.server}`} />
                    {t.message && (
                      <p class="small" data-testid={`token-message-${t.server}`}>
                        {t.message}
                      </p>
                    )}
                    {t.state === 'header' && t.header && <p class="small muted">header {t.header}</p>}
                  </td>
                  <td data-testid={`token-issuer-${t.server}`}>{t.issuer ?? <span class="muted">none</span>}</td>
                  <td data-testid={`token-scopes-${t.server}`}>{scopesText(t.scopes)}</td>
                  <td>
                    <span
                      class="nowrap"
                      data-testid={`token-expiry-${t.server}`}
                      data-expires-at={at ?? undefined}
                      title={at ? new Date(at).toLocaleString() : undefined}
                    >
                      {formatCountdown(at, now)}
                    </span>
                    <p class="small muted">{t.refresh_token ? 'refresh token held' : 'no refresh token'}</p>
                  </td>
                  <td class="actions">
                    <button
                      type="button"
                      data-testid={`token-refresh-${t.server}`}
                      disabled={!can.refresh || busy !== null}
                      onClick={() => void refresh(t)}
                    >
                      Refresh
                    </button>
                    <ConfirmButton
                      label="Revoke"
                      question={`Revoke the tokens of \`${t.server}\`? You will need to sign in again.`}
                      confirmLabel="Revoke"
                      testid={`token-revoke-${t.server}`}
                      disabled={!can.revoke || busy !== null}
                      onConfirm={() => void revoke(t)}
                    />
                    <button
                      type="button"
                      class={t.state === 'needs_sign_in' ? 'primary' : undefined}
                      data-testid={`token-signin-${t.server}`}
                      disabled={!can.sign_in || busy !== null}
                      onClick={() => void signIn(t)}
                    >
                      Sign in again
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Page>
  );
}
