/**
 * A sign-in flow as the window follows it: from polling `sign_in_flow` (the full record) and
 * from `sign_in` events (one step each), whichever comes first.
 */
import type { ConnectRequest, Connected, FlowView, HubEvent, Progress } from '../types';
import type { Tone } from './servers';

export interface FlowState {
  flow: string;
  server: string;
  progress: Progress[];
  finished: boolean;
  connected: Connected | null;
  error: string | null;
  hint: string | null;
  cancelled: boolean;
  /** A poll has read the finished record (its outcome: connected, error); an event alone says only that it ended. */
  outcomeRead: boolean;
}

const ENDS = new Set(['done', 'failed', 'cancelled']);

export function newFlow(flow: string, server = ''): FlowState {
  return {
    flow,
    server,
    progress: [],
    finished: false,
    connected: null,
    error: null,
    hint: null,
    cancelled: false,
    outcomeRead: false,
  };
}

/** The polled record; it never loses steps an event already brought. */
export function applyFlowView(state: FlowState, view: FlowView): FlowState {
  if (view.flow !== state.flow) return state;
  const progress = view.progress.length >= state.progress.length ? view.progress : state.progress;
  return {
    flow: state.flow,
    server: view.server || state.server,
    progress,
    finished: view.finished || state.finished,
    connected: view.connected ?? state.connected,
    error: view.error ?? state.error,
    hint: view.hint ?? state.hint,
    cancelled: Boolean(view.cancelled) || state.cancelled,
    outcomeRead: view.finished || state.outcomeRead,
  };
}

/** One step from the event stream. */
export function applySignInEvent(state: FlowState, event: Extract<HubEvent, { kind: 'sign_in' }>): FlowState {
  if (event.flow !== state.flow) return state;
  const step: Progress = { stage: event.stage, message: event.message, url: event.url ?? null };
  const last = state.progress[state.progress.length - 1];
  const repeat = last && last.stage === step.stage && last.message === step.message;
  return {
    ...state,
    server: state.server || event.server,
    progress: repeat ? state.progress : [...state.progress, step],
    // the outcome's details (scopes, issuer, error, hint) come with the next poll
    finished: state.finished || ENDS.has(event.stage),
    cancelled: state.cancelled || event.stage === 'cancelled',
  };
}

/** Only http(s) URLs are offered as links. */
export function safeExternalUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

export interface FlowStatus {
  text: string;
  tone: Tone;
  /** Still running: Cancel applies. */
  busy: boolean;
  /** The authorization URL, while the browser step waits. */
  authUrl: string | null;
}

/** The one line the status area says, and what goes with it. */
export function flowStatus(state: FlowState): FlowStatus {
  const last = state.progress[state.progress.length - 1];
  const who = state.server ? ` \`${state.server}\`` : '';
  if (state.cancelled || last?.stage === 'cancelled') {
    return { text: 'Sign-in cancelled.', tone: 'muted', busy: false, authUrl: null };
  }
  if (state.error || last?.stage === 'failed') {
    const why = state.error ?? last?.message ?? 'the sign-in failed';
    return { text: `Failed: ${why}`, tone: 'error', busy: false, authUrl: null };
  }
  if (state.finished || last?.stage === 'done') {
    const c = state.connected;
    if (!c && !state.outcomeRead) {
      // The event came first: whether a new server was added comes with the next poll.
      return { text: `Signed in${who}; finishing...`, tone: 'busy', busy: false, authUrl: null };
    }
    const text = c
      ? `Connected${who}${c.added ? ' and added it to your servers' : ''}.`
      : `Signed in${who}.`;
    return { text, tone: 'ok', busy: false, authUrl: null };
  }
  if (!last) return { text: `Starting${who}...`, tone: 'busy', busy: true, authUrl: null };
  if (last.stage === 'waiting_for_browser') {
    return {
      text: 'Waiting for sign-in in your browser...',
      tone: 'busy',
      busy: true,
      authUrl: safeExternalUrl(last.url),
    };
  }
  return { text: last.message || last.stage.replace(/_/g, ' '), tone: 'busy', busy: true, authUrl: null };
}

/** The Connect form's fields as typed. */
export interface ConnectForm {
  url: string;
  name: string;
  clientId: string;
  scopes: string;
}

/** The `start_connect` request, or what is wrong with the form. Empty optional fields are
 * left out, so the hub applies its defaults. */
export function connectRequest(form: ConnectForm): { request: ConnectRequest } | { problem: string } {
  const url = form.url.trim();
  if (url === '') return { problem: 'paste the server’s URL' };
  if (safeExternalUrl(url) === null) return { problem: 'the URL must start with https:// (or http:// for a local server)' };
  const request: ConnectRequest = { url };
  const name = form.name.trim();
  if (name) request.name = name;
  const clientId = form.clientId.trim();
  if (clientId) request.client_id = clientId;
  const scopes = form.scopes.split(/[\s,]+/).filter(Boolean);
  if (scopes.length) request.scopes = scopes;
  return { request };
}
