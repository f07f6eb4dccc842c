/**
 * Browse: the MCP Registry's servers, searched as the user types, and one "Add…" per entry.
 * Adding asks what the record leaves to the user, then shows exactly what will run (command,
 * environment names, keychain names) with a warning; nothing is saved before "Add". An install
 * link (`patchbay://install?...`) opens the same consent view, marked "from a link": the hub
 * reads the link (the window hands the string over and shows the hub's refusal as it is). So
 * does an `.mcpb` bundle file (picked with "Add bundle…", dropped onto the window, or opened with
 * the app), marked "from a bundle file", its plan saying its signature, what it needs and where
 * it unpacks; the hub reads the file, and unpacks it only on Add.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

import { api } from '../api';
import { errorMessage } from '../logic/errors';
import type { Opened } from '../logic/opened';
import type { CatalogEntry, CatalogPlan, CatalogRequest, CatalogSearch } from '../types';
import { Badge, Page, StatusLine } from './common';
import type { Status } from './common';

/** Keystrokes within this many milliseconds make one search. */
export const SEARCH_DEBOUNCE_MS = 250;

export function BrowsePage(props: {
  onAdded?: (name: string) => void;
  /** A remote entry's Add started the connect flow `flow` (the Connect page follows it). */
  onConnectStarted?: (flow: string) => void;
  /** An install link or bundle file to show the consent of (the app was opened with it, or it
   * was dropped onto the window). */
  opened?: Opened | null;
  /** Its view was closed: added, declined or refused. */
  onOpenedDone?: () => void;
}) {
  const [query, setQuery] = useState('');
  const [result, setResult] = useState<{ search: CatalogSearch | null; error: string | null; loading: boolean }>({
    search: null,
    error: null,
    loading: true,
  });
  const [adding, setAdding] = useState<{ entry: CatalogEntry; link?: string; bundle?: string } | null>(null);
  const [status, setStatus] = useState<Status | null>(null);
  const [refused, setRefused] = useState<{ what: 'link' | 'bundle'; message: string } | null>(null);
  const asked = useRef(0);
  const shown = useRef(0);

  /** Show the consent view of the entry `entry` answers, with `from` (a link or bundle file),
   * unless another was asked for since; `failed` hears the hub's refusal. */
  const consentFor = (entry: Promise<CatalogEntry>, from: Partial<Opened>, failed: (message: string) => void) => {
    const mine = ++shown.current;
    setAdding(null);
    entry.then(
      (entry) => {
        if (mine !== shown.current) return;
        setStatus(null);
        setAdding({ entry, ...from });
      },
      (err) => mine === shown.current && failed(errorMessage(err)),
    );
  };

  /** Ask the hub what `opened` adds, and show its consent view (or its refusal). */
  const show = (opened: Opened, done?: () => void) => {
    setStatus(null);
    setRefused(null);
    const what = 'link' in opened ? 'link' : 'bundle';
    const entry = 'link' in opened ? api.previewLink(opened.link) : api.previewBundle(opened.bundle);
    consentFor(entry, opened, (message) => {
      setRefused({ what, message });
      done?.();
    });
  };

  /** "Add…" on a listed entry: its consent view; a remote one connects, a bundle is fetched. */
  const add = (entry: CatalogEntry) => {
    setStatus(null);
    setRefused(null);
    if (entry.kind === 'remote') {
      // Nothing runs here: the connect flow checks the server and signs in.
      if (!entry.url) return;
      setStatus({ text: `Connecting to ${entry.url}…`, tone: 'busy' });
      api.startConnect({ url: entry.url }).then(
        (flow) => {
          setStatus(null);
          props.onConnectStarted?.(flow);
        },
        (err) => setStatus({ text: errorMessage(err), tone: 'error' }),
      );
      return;
    }
    if (entry.kind !== 'bundle') {
      setAdding({ entry });
      return;
    }
    // A registry's bundle: its questions are in its manifest, so the hub fetches it.
    setStatus({ text: `Downloading \`${entry.name}\`…`, tone: 'busy' });
    consentFor(api.registryBundle(entry.name, entry.version), {}, (message) =>
      setStatus({ text: message, tone: 'error' }),
    );
  };

  // Keyed on the strings: the same link or file told twice is shown once.
  const openedLink = props.opened && 'link' in props.opened ? props.opened.link : null;
  const openedBundle = props.opened && 'bundle' in props.opened ? props.opened.bundle : null;
  useEffect(() => {
    if (openedLink) show({ link: openedLink }, props.onOpenedDone);
    else if (openedBundle) show({ bundle: openedBundle }, props.onOpenedDone);
    return () => {
      shown.current++;
    };
  }, [openedLink, openedBundle]);

  const pick = async () => {
    try {
      const path = await api.pickBundle();
      if (path !== null) show({ bundle: path });
    } catch (err) {
      setStatus({ text: errorMessage(err), tone: 'error' });
    }
  };

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
      <div class="actions">
        <button type="button" data-testid="browse-add-bundle" onClick={() => void pick()}>
          Add bundle…
        </button>
        <small>An MCP Bundle file (.mcpb); you can also drop one onto this window.</small>
      </div>
      {refused && (
        <div class="card" role="alert" data-testid={`browse-${refused.what}-refused`}>
          <p>
            <strong>
              {refused.what === 'link' ? 'This install link was refused' : 'This bundle was refused'}; nothing was added.
            </strong>
          </p>
          <p class="inline-error">{refused.message}</p>
          <button type="button" data-testid={`browse-${refused.what}-dismiss`} onClick={() => setRefused(null)}>
            Dismiss
          </button>
        </div>
      )}
      {adding && (
        <AddPanel
          entry={adding.entry}
          link={adding.link}
          bundle={adding.bundle}
          onCancel={() => {
            props.onOpenedDone?.();
            setAdding(null);
          }}
          onAdded={(plan) => {
            props.onOpenedDone?.();
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
              onAdd={() => add(entry)}
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
        disabled={e.kind === 'none' || (e.kind === 'remote' && !e.url)}
        title={e.kind === 'remote' ? `Connects to ${e.url ?? 'its endpoint'}, signing in if it asks` : undefined}
        onClick={props.onAdd}
      >
        Add…
      </button>
    </li>
  );
}

/** What the consent view's requests name: the bundle file, the link, or the record. */
function requested(e: CatalogEntry, answers: string[], link?: string, bundle?: string): CatalogRequest {
  if (bundle) return { name: e.name, bundle, answers };
  if (link) return { name: e.name, link, answers };
  return { name: e.name, version: e.version, answers };
}

/** The consent view: the questions, then the exact command and the warning, then Add. With
 * `link` (or `bundle`), the entry is what that install link (or bundle file) adds, and the
 * requests carry it. */
function AddPanel(props: {
  entry: CatalogEntry;
  link?: string;
  bundle?: string;
  onCancel: () => void;
  onAdded: (plan: CatalogPlan) => void;
}) {
  const e = props.entry;
  const [answers, setAnswers] = useState<string[]>(() => e.questions.map(() => ''));
  const [plan, setPlan] = useState<CatalogPlan | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const request = requested(e, answers, props.link, props.bundle);

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
      data-origin={props.bundle ? 'bundle' : props.link ? 'link' : 'registry'}
      onSubmit={(ev) => void preview(ev)}
      noValidate
    >
      <h3>Add {e.title ?? e.name}</h3>
      {props.bundle ? (
        <p class="warning" data-testid="browse-from-bundle">
          From the bundle file <code>{props.bundle}</code>: {e.name} {e.version}. Add it only if you trust whoever made
          it.
        </p>
      ) : props.link ? (
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
          {plan.bundle && (
            <>
              <p data-testid="browse-bundle-signature">
                By {plan.bundle.author}; {plan.bundle.signature}.
              </p>
              <p data-testid="browse-bundle-needs">
                Needs: {plan.bundle.requirements.length ? plan.bundle.requirements.join(', ') : 'nothing said'}
              </p>
              <p data-testid="browse-bundle-dir">
                Unpacks to: <code>{plan.bundle.dir}</code>
              </p>
            </>
          )}
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
