/** Clients: every MCP client Patchbay knows, and Patchbay's entry in each one's config. */
import { useState } from 'preact/hooks';

import { api } from '../api';
import { clientActions, clientStateView, isDrifted, restartNote, toolLimitWarning } from '../logic/clients';
import { errorMessage } from '../logic/errors';
import type { ResourceHandle } from '../resource';
import type { ClientChange, ClientStatus, ServerStatus } from '../types';
import { Badge, ConfirmButton, ListState, Page, StatusLine } from './common';
import type { Status } from './common';

export function ClientsPage(props: { clients: ResourceHandle<ClientStatus[]>; servers: ServerStatus[] }) {
  const { state, reload } = props.clients;
  const list = state.data ?? [];
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  /** Clients changed in this window: they need a restart to see it. */
  const [changed, setChanged] = useState<Record<string, string>>({});

  const act = async (c: ClientStatus, verb: string, work: () => Promise<ClientChange>) => {
    setBusy(c.id);
    try {
      const result = await work();
      if (result.changed === false) {
        setStatus({ text: result.message ?? `${c.name}: nothing needed changing.`, tone: 'ok' });
      } else {
        setStatus({ text: result.message ?? `${verb} ${c.name}.`, tone: 'ok' });
        setChanged((m) => ({ ...m, [c.id]: restartNote(c.name, result.reload ?? c.reload) }));
      }
      await reload();
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
                    {can.install && (
                      <button
                        type="button"
                        class="primary"
                        data-testid={`client-install-${c.id}`}
                        disabled={busy !== null}
                        onClick={() => void act(c, can.install === 'Repair' ? 'Repaired Patchbay’s entry in' : 'Installed Patchbay into', () => api.installClient(c.id))}
                      >
                        {can.install}
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
    </Page>
  );
}
