/** Servers: every server with its live state, its tools and log tail, the tool changes it holds
 * back for review, and the add form. */
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { api } from '../api';
import { errorMessage } from '../logic/errors';
import {
  canSave,
  emptyForm,
  formSpec,
  isDisabled,
  isRemote,
  retryLeft,
  secretLookingKeys,
  serverStateView,
  shownError,
  specKey,
  toolCount,
} from '../logic/servers';
import type { AddForm, Preview } from '../logic/servers';
import { heldLabel, reviewView, sign } from '../logic/review';
import type { ToolChangeView } from '../logic/review';
import type { ResourceHandle } from '../resource';
import type { ServerStatus, ToolEntry } from '../types';
import { Badge, ConfirmButton, ListState, Page, StatusLine, useNow } from './common';
import type { Status } from './common';

/** Lines of log tail shown. */
export const LOG_LINES = 200;

type PanelKind = 'tools' | 'logs' | 'review';
type Panel = { name: string; kind: PanelKind } | null;

export function ServersPage(props: { servers: ResourceHandle<ServerStatus[]> }) {
  const { state, reload } = props.servers;
  const list = state.data ?? [];
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [panel, setPanel] = useState<Panel>(null);
  // the restart countdown of a crashed server ticks
  const now = useNow(1000);

  const act = async (key: string, work: () => Promise<string>) => {
    setBusy(key);
    try {
      setStatus({ text: await work(), tone: 'ok' });
      await reload();
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(null);
    }
  };

  const toggle = (s: ServerStatus) => {
    const enable = isDisabled(s);
    void act(`toggle-${s.name}`, async () => {
      await api.setServerEnabled(s.name, enable);
      return `${enable ? 'Enabled' : 'Disabled'} \`${s.name}\`.`;
    });
  };

  const remove = (s: ServerStatus) => {
    void act(`remove-${s.name}`, async () => {
      await api.removeServer(s.name);
      if (panel?.name === s.name) setPanel(null);
      return `Removed \`${s.name}\`.`;
    });
  };

  const open = (name: string, kind: PanelKind) =>
    setPanel((p) => (p && p.name === name && p.kind === kind ? null : { name, kind }));

  return (
    <Page
      id="servers"
      title="Servers"
      actions={
        <button type="button" data-testid="servers-refresh" onClick={() => void reload()}>
          Refresh
        </button>
      }
    >
      <StatusLine status={status} testid="servers-status" />
      <ListState
        loading={state.loading}
        error={state.error}
        empty={list.length === 0}
        emptyText="No servers yet: add a stdio server below, or connect a remote one."
        testid="servers"
      />
      {list.length > 0 && (
        <table class="list" data-testid="servers-table">
          <caption class="visually-hidden">Servers and their state</caption>
          <thead>
            <tr>
              <th scope="col">Server</th>
              <th scope="col">State</th>
              <th scope="col">Tools</th>
              <th scope="col">Last error</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => {
              const view = serverStateView({ ...s, retry_in_ms: retryLeft(s.retry_in_ms, state.readAt, now) });
              const error = shownError(s);
              const disabled = isDisabled(s);
              const expanded = panel?.name === s.name ? panel.kind : null;
              return (
                <Fragment key={s.name}>
                  <tr data-testid={`server-row-${s.name}`} data-state={view.word}>
                    <th scope="row">
                      <span class="name">{s.name}</span>
                      <span class="kind" data-testid={`server-kind-${s.name}`}>
                        {isRemote(s) ? 'remote' : 'stdio'}
                      </span>
                      <code class="command" data-testid={`server-command-${s.name}`}>
                        {s.command}
                      </code>
                    </th>
                    <td>
                      <Badge tone={view.tone} label={view.label} word={view.word} testid={`server-state-${s.name}`} />
                      {s.restarts > 0 && <span class="muted small"> {s.restarts} {s.restarts === 1 ? "restart" : "restarts"}</span>}
                      {s.update && (
                        <span class="small" data-testid={`server-update-${s.name}`} title={`patchbay update ${s.name}`}>
                          {' '}
                          {s.update} in the registry
                        </span>
                      )}
                    </td>
                    <td class="nowrap">
                      <button
                        type="button"
                        class="link"
                        data-testid={`server-tools-${s.name}`}
                        data-count={s.tools}
                        aria-expanded={expanded === 'tools'}
                        aria-controls={`panel-${s.name}`}
                        onClick={() => open(s.name, 'tools')}
                      >
                        {toolCount(s.tools)}
                      </button>
                      {s.tools_held > 0 && (
                        <>
                          {' '}
                          <Badge tone="warn" label={heldLabel(s.tools_held)} testid={`server-held-${s.name}`} />
                        </>
                      )}
                    </td>
                    <td class="error-cell" data-testid={`server-error-${s.name}`}>
                      {error ?? <span class="muted">none</span>}
                    </td>
                    <td class="actions">
                      {s.tools_held > 0 && (
                        <button
                          type="button"
                          data-testid={`server-review-${s.name}`}
                          aria-expanded={expanded === 'review'}
                          aria-controls={`panel-${s.name}`}
                          onClick={() => open(s.name, 'review')}
                        >
                          Review changes
                        </button>
                      )}
                      <button
                        type="button"
                        data-testid={`server-logs-${s.name}`}
                        aria-expanded={expanded === 'logs'}
                        aria-controls={`panel-${s.name}`}
                        onClick={() => open(s.name, 'logs')}
                      >
                        Logs
                      </button>
                      <button
                        type="button"
                        data-testid={`server-toggle-${s.name}`}
                        disabled={busy !== null}
                        onClick={() => toggle(s)}
                      >
                        {disabled ? 'Enable' : 'Disable'}
                      </button>
                      <ConfirmButton
                        label="Remove"
                        question={`Remove \`${s.name}\`?`}
                        confirmLabel="Remove"
                        testid={`server-remove-${s.name}`}
                        disabled={busy !== null}
                        onConfirm={() => remove(s)}
                      />
                    </td>
                  </tr>
                  {expanded && (
                    <tr class="panel-row">
                      <td colSpan={5} id={`panel-${s.name}`}>
                        {expanded === 'tools' && <ToolsPanel name={s.name} />}
                        {expanded === 'logs' && <LogsPanel name={s.name} />}
                        {expanded === 'review' && <ReviewPanel name={s.name} onAccepted={reload} />}
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
      <AddServer onAdded={reload} />
    </Page>
  );
}

function ToolsPanel(props: { name: string }) {
  const [tools, setTools] = useState<{ list: ToolEntry[] | null; error: string | null }>({ list: null, error: null });
  useEffect(() => {
    let live = true;
    api.serverTools(props.name).then(
      (list) => live && setTools({ list, error: null }),
      (err) => live && setTools({ list: null, error: errorMessage(err) }),
    );
    return () => {
      live = false;
    };
  }, [props.name]);
  return (
    <div class="panel" data-testid={`server-tools-panel-${props.name}`}>
      <h3>Tools of {props.name}</h3>
      {tools.error && (
        <p role="alert" class="status" data-tone="error">
          {tools.error}
        </p>
      )}
      {!tools.list && !tools.error && <p class="muted">Loading...</p>}
      {tools.list && tools.list.length === 0 && <p class="muted">This server offers no tools (yet).</p>}
      {tools.list && tools.list.length > 0 && (
        <ul class="tools" data-testid={`server-tools-list-${props.name}`}>
          {tools.list.map((t) => (
            <li key={t.name} data-testid={`tool-${t.name}`}>
              <code>{t.name}</code>
              {t.original !== t.name && <span class="muted small"> ({t.original} on the server)</span>}
              {t.description && <p class="description">{t.description}</p>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The tool changes `name` holds back: each field before and after, and Accept per tool or all. */
function ReviewPanel(props: { name: string; onAccepted: () => Promise<void> | void }) {
  const [changes, setChanges] = useState<{ list: ToolChangeView[] | null; error: string | null }>({
    list: null,
    error: null,
  });
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState(false);
  const read = () =>
    api.toolChanges().then(
      (all) => setChanges({ list: reviewView(all, props.name), error: null }),
      (err) => setChanges({ list: null, error: errorMessage(err) }),
    );
  useEffect(() => {
    void read();
  }, [props.name]);

  const accept = async (tools: string[]) => {
    setBusy(true);
    try {
      const accepted = await api.acceptToolChanges({ server: props.name, tools });
      setStatus({
        text: `Accepted ${accepted} changed tool${accepted === 1 ? '' : 's'} of \`${props.name}\`: your clients get ${
          accepted === 1 ? 'it' : 'them'
        } again.`,
        tone: 'ok',
      });
      await read();
      await props.onAccepted();
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(false);
    }
  };

  const list = changes.list;
  return (
    <div class="panel" data-testid={`server-review-panel-${props.name}`}>
      <div class="panel-header">
        <h3>Tool changes of {props.name}</h3>
        {list && list.length > 0 && (
          <button
            type="button"
            class="primary"
            data-testid={`review-accept-all-${props.name}`}
            disabled={busy}
            onClick={() => void accept([])}
          >
            Accept all
          </button>
        )}
      </div>
      <p class="warning" data-testid={`review-explanation-${props.name}`}>
        These tools changed since you accepted them. They are held back from your clients until you accept the
        change: a server that rewrites its tools can steer your AI. Read what changed before you accept.
      </p>
      <p class="muted small" id={`review-legend-${props.name}`}>
        Lines marked − (removed) are what you accepted; lines marked + (added) are what the server says now.
      </p>
      <StatusLine status={status} testid={`review-status-${props.name}`} />
      {changes.error && (
        <p role="alert" class="status" data-tone="error">
          {changes.error}
        </p>
      )}
      {!list && !changes.error && <p class="muted">Loading...</p>}
      {list && list.length === 0 && (
        <p class="muted" data-testid={`review-none-${props.name}`}>
          No changes are held back.
        </p>
      )}
      {list && list.length > 0 && (
        <ul class="review" data-testid={`review-list-${props.name}`}>
          {list.map((t) => (
            <li key={t.tool} data-testid={`review-tool-${t.tool}`}>
              <div class="panel-header">
                <h4>
                  <code>{t.tool}</code>: {t.fields.map((f) => f.label.toLowerCase()).join(', ')} changed
                </h4>
                <button
                  type="button"
                  data-testid={`review-accept-${t.tool}`}
                  disabled={busy}
                  onClick={() => void accept([t.tool])}
                >
                  Accept
                </button>
              </div>
              {t.fields.map((f) => (
                <Fragment key={f.field}>
                  <p class="diff-label" id={`review-${t.tool}-${f.field}`}>
                    {f.label}
                  </p>
                  <pre
                    class="diff"
                    tabIndex={0}
                    aria-labelledby={`review-${t.tool}-${f.field} review-legend-${props.name}`}
                    data-testid={`review-field-${t.tool}-${f.field}`}
                  >
                    {f.lines.map((line, i) => {
                      // the sign apart, so a struck-through line keeps a legible `-`
                      const marked = (
                        <>
                          <span class="sign">{`${sign(line.mark)} `}</span>
                          {`${line.text}\n`}
                        </>
                      );
                      if (line.mark === 'removed')
                        return (
                          <del key={i} data-mark="removed">
                            {marked}
                          </del>
                        );
                      if (line.mark === 'added')
                        return (
                          <ins key={i} data-mark="added">
                            {marked}
                          </ins>
                        );
                      return (
                        <span key={i} data-mark="same">
                          {marked}
                        </span>
                      );
                    })}
                  </pre>
                </Fragment>
              ))}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function LogsPanel(props: { name: string }) {
  const [log, setLog] = useState<{ lines: string[] | null; error: string | null }>({ lines: null, error: null });
  const read = () =>
    api.serverLogs(props.name, LOG_LINES).then(
      (lines) => setLog({ lines, error: null }),
      (err) => setLog({ lines: null, error: errorMessage(err) }),
    );
  useEffect(() => {
    void read();
  }, [props.name]);
  return (
    <div class="panel" data-testid={`server-logs-panel-${props.name}`}>
      <div class="panel-header">
        <h3>Log of {props.name} (last {LOG_LINES} lines)</h3>
        <button type="button" data-testid={`server-logs-refresh-${props.name}`} onClick={() => void read()}>
          Refresh log
        </button>
      </div>
      {log.error && (
        <p role="alert" class="status" data-tone="error">
          {log.error}
        </p>
      )}
      {log.lines && (
        <pre class="log" tabIndex={0} aria-label={`Log of ${props.name}`} data-testid={`server-logs-text-${props.name}`}>
          {log.lines.length ? log.lines.join('\n') : '(the log is empty)'}
        </pre>
      )}
    </div>
  );
}

/** The add form: Save is enabled only once the exact command line of this form is shown. */
export function AddServer(props: { onAdded: () => Promise<void> | void }) {
  const [form, setForm] = useState<AddForm>(emptyForm);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [status, setStatus] = useState<Status | null>(null);
  const [busy, setBusy] = useState(false);

  const field = (key: keyof AddForm) => ({
    value: form[key],
    onInput: (e: Event) => setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value }),
  });

  const { spec } = formSpec(form);
  const stale = preview !== null && preview.key !== specKey(spec);
  const saveOn = canSave(form, preview, busy);
  const secrets = secretLookingKeys(spec.env);

  const doPreview = async (e: Event) => {
    e.preventDefault();
    const checked = formSpec(form);
    setProblems(checked.problems);
    if (checked.problems.length) {
      setStatus({ text: 'Fix the form first.', tone: 'error' });
      return;
    }
    setBusy(true);
    try {
      const commandLine = await api.previewServer(checked.spec);
      setPreview({ key: specKey(checked.spec), commandLine });
      setStatus({ text: 'Check the command below; Save runs exactly this.', tone: 'ok' });
    } catch (err) {
      setPreview(null);
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(false);
    }
  };

  const save = async () => {
    const checked = formSpec(form);
    if (!canSave(form, preview, busy)) return;
    setBusy(true);
    try {
      await api.addServer(checked.spec);
      setStatus({ text: `Added \`${checked.spec.name}\`.`, tone: 'ok' });
      setForm(emptyForm());
      setPreview(null);
      setProblems([]);
      await props.onAdded();
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="add-server-title" data-testid="add-server">
      <h3 id="add-server-title">Add a stdio server</h3>
      <form onSubmit={(e) => void doPreview(e)} noValidate>
        <div class="field">
          <label for="add-server-name">Name</label>
          <input
            id="add-server-name"
            data-testid="add-server-name"
            autoComplete="off"
            spellcheck={false}
            aria-describedby="add-server-name-help"
            {...field('name')}
          />
          <small id="add-server-name-help">Letters, digits, - and _; tools appear as name__tool.</small>
        </div>
        <div class="field">
          <label for="add-server-command">Command</label>
          <input
            id="add-server-command"
            data-testid="add-server-command"
            autoComplete="off"
            spellcheck={false}
            placeholder="npx"
            {...field('command')}
          />
        </div>
        <div class="field">
          <label for="add-server-args">Arguments, one per line</label>
          <textarea
            id="add-server-args"
            data-testid="add-server-args"
            rows={3}
            spellcheck={false}
            placeholder={'-y\n@modelcontextprotocol/server-everything'}
            {...field('args')}
          />
        </div>
        <div class="field">
          <label for="add-server-env">Environment, KEY=value per line (optional)</label>
          <textarea
            id="add-server-env"
            data-testid="add-server-env"
            rows={2}
            spellcheck={false}
            aria-describedby="add-server-env-help"
            {...field('env')}
          />
          <small id="add-server-env-help">
            Values are written to the config file as they are. For a secret, add the server first, then run{' '}
            <code>patchbay secret set NAME VAR</code> to keep it in the keychain.
          </small>
        </div>
        <div class="field">
          <label for="add-server-cwd">Working directory (optional)</label>
          <input id="add-server-cwd" data-testid="add-server-cwd" autoComplete="off" spellcheck={false} {...field('cwd')} />
        </div>
        {problems.length > 0 && (
          <ul class="problems" role="alert" data-testid="add-server-problems">
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
        {secrets.length > 0 && (
          <p class="warning" data-testid="add-server-secret-warning">
            {secrets.join(', ')} {secrets.length === 1 ? 'looks' : 'look'} like a secret: it would be written to the
            config file in clear.
          </p>
        )}
        <div class="buttons">
          <button type="submit" data-testid="add-server-preview" disabled={busy}>
            Show command
          </button>
          <button
            type="button"
            class="primary"
            data-testid="add-server-save"
            disabled={!saveOn}
            aria-describedby="add-server-save-help"
            onClick={() => void save()}
          >
            Save
          </button>
          <small id="add-server-save-help">
            {saveOn ? '' : stale ? 'The form changed: show the command again.' : 'Show the command first.'}
          </small>
        </div>
      </form>
      {preview && (
        <div class={stale ? 'preview stale' : 'preview'}>
          <p id="add-server-command-line-label">{stale ? 'Command shown for the previous form:' : 'Patchbay will run exactly:'}</p>
          <pre aria-labelledby="add-server-command-line-label" data-testid="add-server-command-line" tabIndex={0}>
            {preview.commandLine}
          </pre>
        </div>
      )}
      <StatusLine status={status} testid="add-server-status" />
    </section>
  );
}
