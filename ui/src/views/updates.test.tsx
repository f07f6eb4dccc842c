import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { APP_UPDATE_EVENT, setTransport } from '../api';
import type { AppUpdateState } from '../logic/updates';
import { byTestId, click, maybeTestId, mount, settle, text, unmount } from '../test/dom';
import { fakeShell } from '../test/fake';
import type { Fake } from '../test/fake';
import { AppUpdates } from './updates';

let shell: Fake;
let root: HTMLElement;
let state: AppUpdateState;

beforeEach(async () => {
  state = { current: '0.1.0', off: null, automatic: true, phase: { kind: 'idle' } };
  shell = fakeShell({
    app_update_state: () => structuredClone(state),
    check_app_update: () => {
      state.phase = { kind: 'available', version: '0.2.0', notes: 'Faster start.', date: null };
      return structuredClone(state);
    },
    install_app_update: () => {
      state.phase = { kind: 'installed', version: '0.2.0' };
      return structuredClone(state);
    },
    restart_app: () => null,
    set_update_checks: (a) => {
      state.automatic = Boolean(a.enabled);
      return structuredClone(state);
    },
  });
  setTransport(shell.transport);
  root = await mount(<AppUpdates />);
});

afterEach(() => unmount(root));

describe('AppUpdates', () => {
  it('installs only after the Install button, then offers a restart', async () => {
    await click('app-update-check');
    expect(text('app-update-status')).toBe('Patchbay 0.2.0 is available (you have 0.1.0)');
    expect(text('app-update-notes')).toBe('Faster start.');
    expect(shell.callsOf('install_app_update')).toHaveLength(0);
    await click('app-update-install');
    expect(shell.callsOf('install_app_update')).toHaveLength(1);
    expect(text('app-update-status')).toBe('Patchbay 0.2.0 is installed: restart to use it');
    await click('app-update-restart');
    expect(shell.callsOf('restart_app')).toHaveLength(1);
  });

  it('follows the shell: a check from the tray and the download progress', async () => {
    shell.emitTo(APP_UPDATE_EVENT, {
      ...state,
      phase: { kind: 'downloading', version: '0.2.0', downloaded: 1048576, total: 2097152 },
    });
    await settle();
    expect(text('app-update-status')).toBe('Downloading Patchbay 0.2.0: 1.0 MB of 2.0 MB');
    expect(maybeTestId('app-update-install')).toBeNull();
    shell.emitTo(APP_UPDATE_EVENT, { nonsense: true });
    await settle();
    expect(text('app-update-status')).toBe('Downloading Patchbay 0.2.0: 1.0 MB of 2.0 MB');
  });

  it('shows a refused install as an error', async () => {
    shell.on({
      install_app_update: () => {
        throw { code: 'shell', message: 'no update is waiting: check for updates first' };
      },
    });
    state.phase = { kind: 'available', version: '0.2.0', notes: null, date: null };
    shell.emitTo(APP_UPDATE_EVENT, structuredClone(state));
    await settle();
    await click('app-update-install');
    expect(text('app-update-error')).toBe('no update is waiting: check for updates first');
  });

  it('keeps the daily check setting', async () => {
    const box = byTestId<HTMLInputElement>('app-update-automatic');
    expect(box.checked).toBe(true);
    await click('app-update-automatic');
    expect(shell.callsOf('set_update_checks')).toEqual([{ enabled: false }]);
    expect(byTestId<HTMLInputElement>('app-update-automatic').checked).toBe(false);
  });
});
