/** Clients: every MCP client Patchbay knows, and Patchbay's entry in each one's config. */
import { useEffect, useState } from 'preact/hooks';

import { api } from '../api';
import {
  clientActions,
  clientStateView,
  installLabel,
  isDrifted,
  profileChoices,
  profileSummary,
  restartNote,
  toolLimitWarning,
} from '../logic/clients';
import { errorMessage } from '../logic/errors';
import type { ResourceHandle } from '../resource';
import type { ClientChange, ClientStatus, ProfileStatus, ServerStatus } from '../types';
import { Badge, ConfirmButton, ListState, Page, StatusLine } from './common';
import type { Status } from './common';

export function ClientsPage(props: {
  clients: ResourceHandle<ClientStatus[]>;
  profiles: ResourceHandle<ProfileStatus[]>;
  servers: ServerStatus[];
}) {
  const { state } = props.clients;
  const list = state.data ?? [];
  const profiles = props.profiles.state.data ?? [];
  const reload = async () => {
    await Promise.all([props.clients.reload(), props.profiles.reload()]);
  };
  /**
   * The profile chosen in each row's picker (`''`: every server) and the profile the row had
   * then; absent: what it has now. A choice lives until the row's profile changes (here or
   * elsewhere, as the CLI does) or an action on the row succeeds.
   */
  const [chosen, setChosen] = useState<Record<string, { value: string; from: string | null }>>({});
  const choiceOf = (c: ClientStatus) => {
    const pick = chosen[c.id];
    return pick && pick.from === c.profile ? pick.value : (c.profile ?? '');
  };
  const forget = (id: string) => setChosen(({ [id]: _, ...rest }) => rest);
  useEffect(() => {
    setChosen((m) => {
      const kept = Object.entries(m).filter(([id, pick]) => state.data?.some((c) => c.id === id && c.profile === pick.from));
      return kept.length === Object.keys(m).length ? m : Object.fromEntries(kept);
    });
  }, [state.data]);
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  /** Clients changed in this window: they need a restart to see it. */
  const [changed, setChanged] = useState<Record<string, string>>({});

  const act = async (c: ClientStatus, verb: string, work: () => Promise<ClientChange>) => {
    setBusy(c.id);
    try {
      const result = await work();
      if (!result.changed) {
        setStatus({ text: `${c.name}: nothing needed changing.`, tone: 'ok' });
      } else {
        setStatus({ text: `${verb} ${c.name}.`, tone: 'ok' });
        setChanged((m) => ({ ...m, [c.id]: restartNote(c.name, result.next || c.reload) }));
      }
      await reload();
      forget(c.id);
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(null);
    }
  };

  return (
    <Page
      id="clients"
      title="Clients"
      actions={
        <button type="button" data-testid="clients-refresh" onClick={() => void reload()}>
          Refresh
        </button>
      }
    >
      <StatusLine status={status} testid="clients-status" />
      <ListState loading={state.loading} error={state.error} empty={list.length === 0} emptyText="No clients known." testid="clients" />
      {list.length > 0 && (
        <table class="list" data-testid="clients-table">
          <caption class="visually-hidden">MCP clients and Patchbay's entry in each</caption>
          <thead>
            <tr>
              <th scope="col">Client</th>
              <th scope="col">State</th>
              <th scope="col">Tool limit</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => {
              const view = clientStateView(c);
              const can = clientActions(c);
              const choice = choiceOf(c);
              const install = installLabel(c, choice);
              const warning = toolLimitWarning(c, props.servers);
              const note = changed[c.id];
              return (
                <tr key={c.id} data-testid={`client-row-${c.id}`} data-state={view.word}>
                  <th scope="row">
                    <span class="name">{c.name}</span>
                    <code class="command" title={`${c.format} file`}>
                      {c.path}
                    </code>
                  </th>
                  <td>
                    <Badge tone={view.tone} label={view.label} word={view.word} testid={`client-state-${c.id}`} />
                    {c.installed && c.mode && (
                      <span class="muted small">
                        {' '}
                        {c.mode === 'bridge' ? 'via the bridge' : 'direct URL'}
                        {c.profile ? `, profile ${c.profile}` : ''}
                      </span>
                    )}
                    {c.error && (
                      <p class="inline-error" data-testid={`client-error-${c.id}`}>
                        {c.error}
                      </p>
                    )}
                    {isDrifted(c) && (
                      <p class="small" data-testid={`client-drift-${c.id}`}>
                        {c.name} dropped or rewrote Patchbay's entry; Repair puts it back.
                      </p>
                    )}
                    {note && (
                      <p class="note" role="note" data-testid={`client-note-${c.id}`}>
                        {note}
                      </p>
                    )}
                    {warning && (
                      <p class="warning" data-testid={`client-warning-${c.id}`}>
                        {warning}
                      </p>
                    )}
                  </td>
                  <td data-testid={`client-limit-${c.id}`}>{c.tool_limit ?? <span class="muted">none known</span>}</td>
                  <td class="actions">
                    {profiles.length > 0 && (
                      <select
                        aria-label={`What ${c.name} is served`}
                        data-testid={`client-profile-${c.id}`}
                        value={choice}
                        disabled={busy !== null}
                        onChange={(e) => {
                          const value = (e.target as HTMLSelectElement).value;
                          setChosen((m) => ({ ...m, [c.id]: { value, from: c.profile } }));
                        }}
                      >
                        {profileChoices(profiles).map((o) => (
                          <option key={o.value} value={o.value}>
                            {o.label}
                          </option>
                        ))}
                        {c.profile && !profiles.some((p) => p.name === c.profile) && (
                          <option value={c.profile}>profile {c.profile} (gone)</option>
                        )}
                      </select>
                    )}
                    {install && (
                      <button
                        type="button"
                        class="primary"
                        data-testid={`client-install-${c.id}`}
                        disabled={busy !== null}
                        onClick={() =>
                          void act(c, INSTALL_VERBS[install], () =>
                            // a client installed with a URL entry keeps it
                            api.installClient(c.id, { profile: choice || null, direct: c.installed && c.mode === 'direct' }),
                          )
                        }
                      >
                        {install}
                      </button>
                    )}
                    {can.uninstall && (
                      <button
                        type="button"
                        data-testid={`client-uninstall-${c.id}`}
                        disabled={busy !== null}
                        onClick={() => void act(c, 'Removed Patchbay from', () => api.uninstallClient(c.id))}
                      >
                        Uninstall
                      </button>
                    )}
                    {can.restore && (
                      <ConfirmButton
                        label="Restore"
                        question={`Put back the newest backup of ${c.name}'s config file?`}
                        confirmLabel="Restore"
                        testid={`client-restore-${c.id}`}
                        disabled={busy !== null}
                        onConfirm={() => void act(c, 'Restored the backup of', () => api.restoreClient(c.id))}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <ProfilesSection profiles={props.profiles} />
    </Page>
  );
}

const INSTALL_VERBS = {
  Install: 'Installed Patchbay into',
  Repair: 'Repaired Patchbay’s entry in',
  Apply: 'Changed what Patchbay serves',
} as const;

/** The profiles a client can be installed with, as the hub serves them. */
function ProfilesSection(props: { profiles: ResourceHandle<ProfileStatus[]> }) {
  const { state } = props.profiles;
  const list = state.data ?? [];
  return (
    <section class="profiles" aria-labelledby="profiles-heading" data-testid="profiles">
      <h2 id="profiles-heading">Profiles</h2>
      <p class="muted small">
        A profile serves a client some servers or tools only, at its own endpoint. Make one with{' '}
        <code>patchbay profile create work --servers github,linear</code>.
      </p>
      <ListState loading={state.loading} error={state.error} empty={list.length === 0} emptyText="No profiles yet." testid="profiles" />
      {list.length > 0 && (
        <table class="list" data-testid="profiles-table">
          <caption class="visually-hidden">Profiles and what each serves</caption>
          <thead>
            <tr>
              <th scope="col">Profile</th>
              <th scope="col">Serves</th>
              <th scope="col">Tools</th>
            </tr>
          </thead>
          <tbody>
            {list.map((p) => (
              <tr key={p.name} data-testid={`profile-row-${p.name}`}>
                <th scope="row">
                  <span class="name">{p.name}</span>
                  <code class="command">{p.path}</code>
                </th>
                <td>
                  {profileSummary(p)}
                  {p.unknown_servers.length > 0 && (
                    <p class="small" data-testid={`profile-unknown-${p.name}`}>
                      Not configured, so ignored: {p.unknown_servers.join(', ')}
                    </p>
                  )}
                  {p.problem && (
                    <p class="inline-error" data-testid={`profile-problem-${p.name}`}>
                      {p.problem}
                    </p>
                  )}
                </td>
                <td data-testid={`profile-tools-${p.name}`}>{p.served_tools}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
