import { describe, expect, it } from 'vitest';

import type { FlowView } from '../types';
import { applyFlowView, applySignInEvent, connectRequest, flowStatus, newFlow, safeExternalUrl } from './flow';

const AUTH = 'https://auth.example.com/authorize?client_id=pb&state=s&code_challenge=c';

const view = (over: Partial<FlowView>): FlowView => ({
  flow: 'f1',
  server: 'notes',
  progress: [],
  finished: false,
  cancelled: false,
  ...over,
});

describe('following a sign-in', () => {
  it('starts as "Starting..." with Cancel available', () => {
    expect(flowStatus(newFlow('f1', 'notes'))).toMatchObject({ text: 'Starting `notes`...', busy: true, authUrl: null });
  });

  it('says it waits for the browser, with the authorization URL as a fallback link', () => {
    const s = applySignInEvent(newFlow('f1'), {
      kind: 'sign_in',
      flow: 'f1',
      server: 'notes',
      stage: 'waiting_for_browser',
      message: 'opened the browser',
      url: AUTH,
    });
    expect(flowStatus(s)).toEqual({ text: 'Waiting for sign-in in your browser...', tone: 'busy', busy: true, authUrl: AUTH });
    expect(s.server).toBe('notes');
  });

  it('ignores events of another flow', () => {
    const s = newFlow('f1');
    expect(applySignInEvent(s, { kind: 'sign_in', flow: 'other', server: 'x', stage: 'done', message: '' })).toBe(s);
  });

  it('does not repeat a step that a poll and an event both brought', () => {
    let s = applyFlowView(newFlow('f1'), view({ progress: [{ stage: 'discovering', message: 'finding' }] }));
    s = applySignInEvent(s, { kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'discovering', message: 'finding' });
    expect(s.progress).toHaveLength(1);
  });

  it('keeps steps from events when an older poll answers late', () => {
    let s = applySignInEvent(newFlow('f1'), { kind: 'sign_in', flow: 'f1', server: 'n', stage: 'discovering', message: 'a' });
    s = applySignInEvent(s, { kind: 'sign_in', flow: 'f1', server: 'n', stage: 'registering', message: 'b' });
    s = applyFlowView(s, view({ progress: [{ stage: 'discovering', message: 'a' }] }));
    expect(s.progress.map((p) => p.stage)).toEqual(['discovering', 'registering']);
  });

  it('reports success with what was connected', () => {
    const s = applyFlowView(
      newFlow('f1'),
      view({
        finished: true,
        progress: [{ stage: 'done', message: 'signed in' }],
        connected: { server: 'notes', url: 'https://n/mcp', auth: 'oauth', scopes: ['read'], issuer: 'https://auth', added: true },
      }),
    );
    expect(flowStatus(s)).toMatchObject({ text: 'Connected `notes` and added it to your servers.', tone: 'ok', busy: false });
  });

  it('says it is finishing when the done event beats the poll, then what the poll read', () => {
    const done = applySignInEvent(newFlow('f1'), { kind: 'sign_in', flow: 'f1', server: 'notes', stage: 'done', message: 'signed in' });
    expect(flowStatus(done)).toMatchObject({ text: 'Signed in `notes`; finishing...', busy: false });
    // a sign-in again adds no server: the finished record has no `connected`
    const again = applyFlowView(done, view({ finished: true, progress: [{ stage: 'done', message: 'signed in' }] }));
    expect(flowStatus(again)).toMatchObject({ text: 'Signed in `notes`.', tone: 'ok', busy: false });
  });

  it('reports failure with the hub’s sentence', () => {
    const s = applyFlowView(
      newFlow('f1'),
      view({ finished: true, error: 'the server does not support PKCE S256', hint: 'ask the provider', progress: [{ stage: 'failed', message: 'x' }] }),
    );
    expect(flowStatus(s)).toMatchObject({ text: 'Failed: the server does not support PKCE S256', tone: 'error', busy: false });
    expect(s.hint).toBe('ask the provider');
  });

  it('stops offering Cancel once the event says it ended, before the poll has details', () => {
    const s = applySignInEvent(newFlow('f1'), { kind: 'sign_in', flow: 'f1', server: 'n', stage: 'failed', message: 'denied by the user' });
    expect(flowStatus(s)).toMatchObject({ text: 'Failed: denied by the user', busy: false });
  });

  it('reports a cancel', () => {
    const s = applySignInEvent(newFlow('f1'), { kind: 'sign_in', flow: 'f1', server: 'n', stage: 'cancelled', message: 'cancelled' });
    expect(flowStatus(s)).toMatchObject({ text: 'Sign-in cancelled.', busy: false });
  });

  it('never offers a non-web authorization URL as a link', () => {
    const s = applySignInEvent(newFlow('f1'), {
      kind: 'sign_in',
      flow: 'f1',
      server: 'n',
      stage: 'waiting_for_browser',
      message: '',
      url: 'javascript:alert(1)',
    });
    expect(flowStatus(s).authUrl).toBeNull();
    expect(safeExternalUrl('file:///etc/passwd')).toBeNull();
    expect(safeExternalUrl('http://127.0.0.1:9000/auth')).toBe('http://127.0.0.1:9000/auth');
  });
});

describe('the Connect form', () => {
  it('sends only what was filled in', () => {
    expect(connectRequest({ url: ' https://mcp.example.com/mcp ', name: '', clientId: '', scopes: '' })).toEqual({
      request: { url: 'https://mcp.example.com/mcp' },
    });
    expect(connectRequest({ url: 'https://x/mcp', name: 'x', clientId: 'cid', scopes: 'read, write  admin' })).toEqual({
      request: { url: 'https://x/mcp', name: 'x', client_id: 'cid', scopes: ['read', 'write', 'admin'] },
    });
  });

  it('refuses an empty or non-web URL', () => {
    expect(connectRequest({ url: '', name: '', clientId: '', scopes: '' })).toHaveProperty('problem');
    expect(connectRequest({ url: 'mcp.example.com', name: '', clientId: '', scopes: '' })).toHaveProperty('problem');
    expect(connectRequest({ url: 'ftp://x', name: '', clientId: '', scopes: '' })).toHaveProperty('problem');
  });
});
