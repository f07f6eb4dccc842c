/**
 * Browse: the MCP Registry's servers, searched as the user types, and one "Add…" per entry.
 * Adding asks what the record leaves to the user, then shows exactly what will run (command,
 * environment names, keychain names) with a warning; nothing is saved before "Add". An install
 * link (`patchbay://install?...`) opens the same consent view, marked "from a link": the hub
 * reads the link (the window hands the string over and shows the hub's refusal as it is).
 */
import { useEffect, useRef, useState } from 'preact/hooks';

import { api } from '../api';
import { errorMessage } from '../logic/errors';
import type { CatalogEntry, CatalogPlan, CatalogSearch } from '../types';
import { Badge, Page, StatusLine } from './common';
import type { Status } from './common';

/** Keystrokes within this many milliseconds make one search. */
export const SEARCH_DEBOUNCE_MS = 250;

export function BrowsePage(props: {
  onAdded?: (name: string) => void;
  /** An install link to show the consent of (the app was opened with it). */
  link?: string | null;
  /** The link's view was closed: added, declined or refused. */
  onLinkDone?: () => void;
}) {
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<{ search: CatalogSearch | null; error: string | null; loading: boolean }>({
    search: null,
    error: null,
    loading: true,
  });
  const [adding, setAdding] = useState<{ entry: CatalogEntry; link?: string } | null>(null);
  const [status, setStatus] = useState<Status | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const asked = useRef(0);

  useEffect(() => {
    const link = props.link;
    if (!link) return;
    let current = true;
    setStatus(null);
    setRefused(null);
    setAdding(null);
    api.previewLink(link).then(
      (entry) => current && setAdding({ entry, link }),
      (err) => {
        if (!current) return;
        setRefused(errorMessage(err));
        props.onLinkDone?.();
      },
    );
    return () => {
      current = false;
    };
  }, [props.link]);

  useEffect(() => {
    const timer = setTimeout(() => {
      const mine = ++asked.current;
      setResult((r) => ({ ...r, loading: true }));
      api.searchCatalog(query.trim()).then(
        (search) => mine === asked.current && setResult({ search, error: null, loading: false }),
        (err) => mine === asked.current && setResult({ search: null, error: errorMessage(err), loading: false }),
      );
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  const entries = result.search?.entries ?? [];
  return (
    <Page id="browse" title="Browse the MCP Registry">
      <div class="field">
        <label for="browse-search">Search</label>
        <input
          id="browse-search"
          type="search"
          data-testid="browse-search"
          placeholder="filesystem, git, weather…"
          autoComplete="off"
          spellcheck={false}
          value={query}
          onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)}
        />
      </div>
      {result.search?.from_snapshot && (
        <p class="note" data-testid="browse-snapshot">
          No registry could be reached: showing the servers shipped with Patchbay.
        </p>
      )}
      <StatusLine status={status} testid="browse-status" />
      {refused && (
        <div class="card" role="alert" data-testid="browse-link-refused">
          <p>
            <strong>This install link was refused; nothing was added.</strong>
          </p>
          <p class="inline-error">{refused}</p>
          <button type="button" data-testid="browse-link-dismiss" onClick={() => setRefused(null)}>
            Dismiss
          </button>
        </div>
      )}
      {adding && (
        <AddPanel
          entry={adding.entry}
          link={adding.link}
          onCancel={() => {
            if (adding.link) props.onLinkDone?.();
            setAdding(null);
          }}
          onAdded={(plan) => {
            if (adding.link) props.onLinkDone?.();
            setAdding(null);
            setStatus({ text: `Added \`${plan.name}\`.`, tone: 'ok' });
            props.onAdded?.(plan.name);
          }}
        />
      )}
      {result.error ? (
        <p class="inline-error" role="alert" data-testid="browse-error">
          {result.error}
        </p>
      ) : entries.length === 0 ? (
        <p data-testid="browse-empty" data-busy={result.loading ? 'true' : undefined}>
          {result.loading ? 'Searching…' : 'No server matches.'}
        </p>
      ) : (
        <ul class="catalog" data-testid="browse-list" data-busy={result.loading ? 'true' : undefined}>
          {entries.map((entry) => (
            <EntryRow
              key={entry.name}
              entry={entry}
              onAdd={() => {
                setStatus(null);
                setRefused(null);
                setAdding({ entry });
              }}
            />
          ))}
        </ul>
      )}
    </Page>
  );
}

function EntryRow(props: { entry: CatalogEntry; onAdd: () => void }) {
  const e = props.entry;
  return (
    <li class="card catalog-entry" data-testid={`browse-entry-${e.name}`} data-kind={e.kind}>
      {e.icon && <img class="catalog-icon" src={e.icon} alt="" width={32} height={32} loading="lazy" />}
      <div class="catalog-text">
        <strong>{e.title ?? e.name}</strong> <small>{e.version}</small>
        {e.title && <div><code>{e.name}</code></div>}
        <p>{e.description}</p>
        <Badge tone={e.kind === 'none' ? 'error' : 'ok'} label={e.kind === 'remote' ? 'remote' : e.kind === 'none' ? 'cannot run here' : `local (${e.kind})`} word={e.kind} testid={`browse-kind-${e.name}`} />{' '}
        {e.runtime && (
          <Badge
            tone={e.runtime_present ? 'ok' : 'warn'}
            label={e.runtime_present ? e.runtime : `${e.runtime} missing`}
            word={e.runtime_present ? 'present' : 'missing'}
            testid={`browse-runtime-${e.name}`}
          />
        )}
        {e.deprecated && <Badge tone="warn" label="deprecated" />}
        {e.problem && <p class="inline-error" data-testid={`browse-problem-${e.name}`}>{e.problem}</p>}
      </div>
      <button
        type="button"
        data-testid={`browse-add-${e.name}`}
        disabled={e.kind === 'none' || e.kind === 'remote'}
        title={e.kind === 'remote' ? 'A remote server: add it from the Connect page' : undefined}
        onClick={props.onAdd}
      >
        Add…
      </button>
    </li>
  );
}

/** The consent view: the questions, then the exact command and the warning, then Add. With
 * `link`, the entry is what that install link adds, and the requests carry the link. */
function AddPanel(props: {
  entry: CatalogEntry;
  link?: string;
  onCancel: () => void;
  onAdded: (plan: CatalogPlan) => void;
}) {
  const e = props.entry;
  const [answers, setAnswers] = useState<string[]>(() => e.questions.map(() => ''));
  const [plan, setPlan] = useState<CatalogPlan | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const request = props.link ? { name: e.name, link: props.link, answers } : { name: e.name, version: e.version, answers };

  const preview = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      setPlan(await api.previewCatalog(request));
    } catch (err) {
      setPlan(null);
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const add = async () => {
    setBusy(true);
    setProblem(null);
    try {
      props.onAdded(await api.addFromCatalog(request));
    } catch (err) {
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const answerField = (i: number) => {
    const q = e.questions[i];
    return {
      id: `browse-answer-${i}`,
      'data-testid': `browse-answer-${i}`,
      autoComplete: 'off',
      spellcheck: false,
      placeholder: q?.default ?? (q?.choices.length ? q.choices.join(' | ') : ''),
      value: answers[i] ?? '',
      onInput: (ev: Event) => {
        const value = (ev.currentTarget as HTMLInputElement).value;
        setAnswers((a) => a.map((old, j) => (j === i ? value : old)));
        setPlan(null);
      },
    };
  };

  return (
    <form
      class="card"
      data-testid="browse-consent"
      data-origin={props.link ? 'link' : 'registry'}
      onSubmit={(ev) => void preview(ev)}
      noValidate
    >
      <h3>Add {e.title ?? e.name}</h3>
      {props.link ? (
        <p class="warning" data-testid="browse-from-link">
          From a link{e.registry === 'link' ? ': a command the link describes, not a registry record' : ` to ${e.name} in the registry`}.
          Add it only if you trust whoever sent it.
        </p>
      ) : null}
      {e.questions.map((q, i) => (
        <div class="field" key={q.name}>
          <label for={`browse-answer-${i}`}>
            {q.name}
            {q.secret && ' (kept in your keychain)'}
          </label>
          {q.secret ? (
            <input type="password" {...answerField(i)} />
          ) : (
            <input type="text" {...answerField(i)} />
          )}
          {q.description && <small>{q.description}</small>}
        </div>
      ))}
      <button type="button" data-testid="browse-preview" disabled={busy} onClick={(ev) => void preview(ev)}>
        Preview
      </button>
      {problem && (
        <p class="inline-error" role="alert" data-testid="browse-problem">
          {problem}
        </p>
      )}
      {plan && (
        <div data-testid="browse-plan">
          <p>
            It will be saved as <code data-testid="browse-plan-name">{plan.name}</code> and run:
          </p>
          <pre>
            <code data-testid="browse-command-line">{plan.command_line}</code>
          </pre>
          <p data-testid="browse-env">Environment: {plan.env.length ? plan.env.join(', ') : 'none'}</p>
          <p data-testid="browse-secret-env">
            Kept in your keychain: {plan.secret_env.length ? plan.secret_env.join(', ') : 'none'}
          </p>
          {!plan.runtime_present && (
            <p class="inline-error" data-testid="browse-runtime-missing">
              The program it runs is not installed; it cannot start until it is.
            </p>
          )}
          <p class="warning" role="note" data-testid="browse-warning">
            It will run with your user's rights: it can read and change what you can. Add it only if you trust it.
          </p>
        </div>
      )}
      <div class="actions">
        <button type="button" data-testid="browse-confirm" disabled={!plan || busy} onClick={() => void add()}>
          Add
        </button>
        <button type="button" data-testid="browse-cancel" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
