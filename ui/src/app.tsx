/**
 * The window: a header (hub, start at login), the page nav, and the page. It owns the lists
 * read from the hub and keeps them live from `hub-event`s: reducers patch what an event says,
 * and a short debounce re-reads what an event only says is stale.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { api, onFileDrop, onOpened, onShowPage } from './api';
import { droppedBundle } from './logic/opened';
import type { Opened } from './logic/opened';
import { errorMessage } from './logic/errors';
import {
  applyClientDrift,
  applyServerState,
  applyTokenState,
  applyToolCall,
  sortCalls,
  staleAfter,
} from './logic/events';
import { applyFlowView, applySignInEvent, newFlow } from './logic/flow';
import type { FlowState } from './logic/flow';
import { subscription, useResource } from './resource';
import type { HubEvent, HubStatus } from './types';
import { ActivityPage } from './views/activity';
import { BrowsePage } from './views/browse';
import { ClientsPage } from './views/clients';
import { ConnectPage } from './views/connect';
import { ServersPage } from './views/servers';
import { TokensPage } from './views/tokens';
import { AppUpdates } from './views/updates';

export const PAGES = [
  { id: 'servers', label: 'Servers' },
  { id: 'connect', label: 'Connect' },
  { id: 'browse', label: 'Browse' },
  { id: 'clients', label: 'Clients' },
  { id: 'tokens', label: 'Tokens' },
  { id: 'activity', label: 'Activity' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

/** A sign-in the window follows, and which page started it. */
export interface TrackedFlow {
  state: FlowState;
  origin: 'connect' | 'tokens';
  /** The last poll failed (the flow may be gone). */
  pollError: string | null;
}

/** How often a running sign-in is polled (events usually come first). */
const POLL_MS = 1000;
/** Polls that may fail in a row before the window stops following a flow. */
const POLL_FAILURES = 3;
/** Events come in bursts (a reload touches every server): re-read once per burst. */
const STALE_DEBOUNCE_MS = 250;

export function App(props: { initialPage?: PageId }) {
  const [page, setPage] = useState<PageId>(props.initialPage ?? 'servers');
  const [hub, setHub] = useState<{ status: HubStatus | null; error: string | null }>({ status: null, error: null });
  const [configError, setConfigError] = useState<string | null>(null);
  const [autostart, setAutostart] = useState<{ on: boolean | null; error: string | null }>({ on: null, error: null });
  const [flow, setFlow] = useState<TrackedFlow | null>(null);
  const [opened, setOpened] = useState<Opened | null>(null);
  const [dropRefused, setDropRefused] = useState<string | null>(null);

  const servers = useResource(api.listServers);
  const tokens = useResource(api.listTokens);
  const clients = useResource(api.listClients);
  const profiles = useResource(api.listProfiles);
  const calls = useResource(async () => sortCalls(await api.recentCalls()));

  const readHub = useCallback(async () => {
    try {
      setHub({ status: await api.hubStatus(), error: null });
    } catch (err) {
      setHub({ status: null, error: errorMessage(err) });
    }
  }, []);

  // First reads: the hub, its servers (every page uses them), start at login.
  useEffect(() => {
    void readHub();
    void servers.reload();
    api.getAutostart().then(
      (on) => setAutostart({ on, error: null }),
      (err) => setAutostart({ on: null, error: errorMessage(err) }),
    );
  }, []);

  // An install link or bundle file the app was opened with, now or later: Browse shows its
  // consent view.
  useEffect(() => {
    const take = () =>
      api.takeOpened().then(
        (taken) => {
          if (taken === null) return;
          setOpened(taken);
          setPage('browse');
        },
        () => undefined,
      );
    void take();
    return subscription(onOpened(() => void take()));
  }, []);

  // A bundle file dropped onto the window: the same consent view; anything else is refused.
  useEffect(
    () =>
      subscription(
        onFileDrop((paths) => {
          const dropped = droppedBundle(paths);
          if (dropped === null) return;
          if ('refused' in dropped) {
            setDropRefused(dropped.refused);
            return;
          }
          setDropRefused(null);
          setOpened(dropped);
          setPage('browse');
        }),
      ),
    [],
  );

  // The shell turns the window to a page (the tray's "Review tool changes…": Servers).
  useEffect(
    () =>
      subscription(
        onShowPage((shown) => {
          const known = PAGES.find((p) => p.id === shown);
          if (known) setPage(known.id);
        }),
      ),
    [],
  );

  // Each page's list is read when the page opens.
  useEffect(() => {
    if (page === 'tokens') void tokens.reload();
    if (page === 'clients') {
      void clients.reload();
      void profiles.reload();
    }
    if (page === 'activity') void calls.reload();
  }, [page]);

  // Live updates.
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  const pageRef = useRef(page);
  pageRef.current = page;
  const soon = useCallback((key: string, reload: () => Promise<void>) => {
    const t = timers.current;
    const pending = t.get(key);
    if (pending) clearTimeout(pending);
    t.set(
      key,
      setTimeout(() => {
        t.delete(key);
        void reload();
      }, STALE_DEBOUNCE_MS),
    );
  }, []);

  useEffect(() => {
    const onEvent = (event: HubEvent) => {
      switch (event.kind) {
        case 'server_state':
          servers.update((list) => {
            const { servers: next, found } = applyServerState(list, event);
            if (!found) soon('servers', servers.reload);
            return next;
          });
          break;
        case 'tool_call':
          calls.update((list) => applyToolCall(list, event));
          break;
        case 'token_state':
          tokens.update((list) => applyTokenState(list, event).tokens);
          break;
        case 'client_drift':
          clients.update((list) => applyClientDrift(list, event));
          break;
        case 'sign_in':
          setFlow((f) => (f ? { ...f, state: applySignInEvent(f.state, event) } : f));
          break;
        case 'config_error':
          setConfigError(event.message);
          break;
        case 'config_applied':
          setConfigError(null);
          break;
        default:
          break;
      }
      const stale = staleAfter(event);
      if (stale.servers) soon('servers', servers.reload);
      // lists of pages not open are read when opened
      if (stale.tokens && pageRef.current === 'tokens') soon('tokens', tokens.reload);
      if (stale.clients && pageRef.current === 'clients') {
        soon('clients', clients.reload);
        soon('profiles', profiles.reload);
      }
      if (stale.calls && pageRef.current === 'activity') soon('calls', calls.reload);
      if (event.kind === 'lagged') void readHub();
    };
    const unsubscribe = subscription(api.onHubEvent(onEvent), (err) =>
      setHub((h) => ({ ...h, error: `live updates are off: ${errorMessage(err)}` })),
    );
    return () => {
      unsubscribe();
      timers.current.forEach(clearTimeout);
      timers.current.clear();
    };
  }, []);

  // Follow the sign-in under way.
  const flowId = flow?.state.flow ?? null;
  useEffect(() => {
    if (!flowId) return;
    let stopped = false;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const view = await api.signInFlow(flowId);
        if (stopped) return;
        failures = 0;
        setFlow((f) => (f && f.state.flow === flowId ? { ...f, state: applyFlowView(f.state, view), pollError: null } : f));
        if (view.finished) {
          if (view.connected) {
            void servers.reload();
            if (pageRef.current === 'tokens') void tokens.reload();
          }
          return;
        }
      } catch (err) {
        if (stopped) return;
        failures += 1;
        const message = errorMessage(err);
        setFlow((f) => (f && f.state.flow === flowId ? { ...f, pollError: message } : f));
        if (failures >= POLL_FAILURES) return;
      }
      timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [flowId]);

  const startFlow = useCallback((id: string, origin: TrackedFlow['origin'], server = '') => {
    setFlow({ state: newFlow(id, server), origin, pollError: null });
  }, []);

  const toggleAutostart = async (on: boolean) => {
    setAutostart({ on, error: null });
    try {
      await api.setAutostart(on);
    } catch (err) {
      setAutostart({ on: !on, error: errorMessage(err) });
    }
  };

  const onNavKey = (e: KeyboardEvent) => {
    // Arrow keys move between pages too (the buttons are also in the tab order).
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const buttons = Array.from((e.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>('button'));
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    e.preventDefault();
    const step = e.key === 'ArrowDown' || e.key === 'ArrowRight' ? 1 : -1;
    buttons[(i + step + buttons.length) % buttons.length]?.focus();
  };

  return (
    <div class="app">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <h1>Patchbay</h1>
        <p class="hub" data-testid="hub-status" role="status" aria-live="polite">
          {hub.status
            ? `hub ${hub.status.version}, pid ${hub.status.pid}`
            : hub.error
              ? `hub unreachable: ${hub.error}`
              : 'connecting to the hub...'}
        </p>
        {hub.error && (
          <button type="button" data-testid="hub-retry" onClick={() => void readHub().then(servers.reload)}>
            Retry
          </button>
        )}
        <label class="autostart">
          <input
            type="checkbox"
            data-testid="autostart-toggle"
            checked={autostart.on === true}
            disabled={autostart.on === null && !autostart.error}
            onChange={(e) => void toggleAutostart((e.currentTarget as HTMLInputElement).checked)}
          />
          Start at login
        </label>
        {autostart.error && (
          <span class="inline-error" role="alert" data-testid="autostart-error">
            {autostart.error}
          </span>
        )}
      </header>
      <div class="body">
        <nav aria-label="Pages" class="nav" onKeyDown={onNavKey}>
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <button
                  type="button"
                  data-testid={`nav-${p.id}`}
                  aria-current={page === p.id ? 'page' : undefined}
                  onClick={() => setPage(p.id)}
                >
                  {p.label}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" class="main">
          <AppUpdates />
          {configError && (
            <div class="banner" role="alert" data-testid="config-error">
              <strong>The config file has an error; the last good config keeps running.</strong>
              <code>{configError}</code>
              <button type="button" data-testid="config-error-dismiss" onClick={() => setConfigError(null)}>
                Dismiss
              </button>
            </div>
          )}
          {dropRefused && (
            <div class="banner" role="alert" data-testid="drop-refused">
              <strong>{dropRefused}</strong>
              <button type="button" data-testid="drop-refused-dismiss" onClick={() => setDropRefused(null)}>
                Dismiss
              </button>
            </div>
          )}
          {page === 'servers' && <ServersPage servers={servers} />}
          {page === 'browse' && (
            <BrowsePage
              opened={opened}
              onOpenedDone={() => setOpened(null)}
              onAdded={() => void servers.reload()}
              onConnectStarted={(id) => {
                startFlow(id, 'connect');
                setPage('connect');
              }}
            />
          )}
          {page === 'connect' && (
            <ConnectPage flow={flow?.origin === 'connect' ? flow : null} onStarted={(id) => startFlow(id, 'connect')} />
          )}
          {page === 'clients' && <ClientsPage clients={clients} profiles={profiles} servers={servers.state.data ?? []} />}
          {page === 'tokens' && (
            <TokensPage
              tokens={tokens}
              flow={flow?.origin === 'tokens' ? flow : null}
              onSignIn={(id, server) => startFlow(id, 'tokens', server)}
            />
          )}
          {page === 'activity' && <ActivityPage calls={calls} />}
        </main>
      </div>
    </div>
  );
}
