import { describe, expect, it } from 'vitest';

import { type AppUpdateState, byteSize, parseUpdateState, updateView } from './updates';

const state = (phase: AppUpdateState['phase'], off: string | null = null): AppUpdateState => ({
  current: '0.1.0',
  off,
  automatic: true,
  phase,
});

describe('updateView', () => {
  it('offers a check before the first one and after one found nothing', () => {
    expect(updateView(state({ kind: 'idle' }))).toMatchObject({ text: 'Patchbay 0.1.0', actions: ['check'] });
    expect(updateView(state({ kind: 'up_to_date' }))).toMatchObject({
      text: 'Patchbay 0.1.0 is up to date',
      actions: ['check'],
    });
  });

  it('offers install only for a found version, with its notes', () => {
    const view = updateView(state({ kind: 'available', version: '0.2.0', notes: ' Faster start. ', date: null }));
    expect(view).toEqual({
      text: 'Patchbay 0.2.0 is available (you have 0.1.0)',
      tone: 'notice',
      actions: ['install'],
      notes: 'Faster start.',
    });
    for (const phase of [
      { kind: 'checking' },
      { kind: 'downloading', version: '0.2.0', downloaded: 1, total: null },
      { kind: 'installed', version: '0.2.0' },
      { kind: 'failed', message: 'x' },
    ] as const) {
      expect(updateView(state(phase)).actions).not.toContain('install');
    }
  });

  it('shows the download as it goes and restart once installed', () => {
    expect(updateView(state({ kind: 'downloading', version: '0.2.0', downloaded: 3 * 1048576, total: 12 * 1048576 })).text).toBe(
      'Downloading Patchbay 0.2.0: 3.0 MB of 12.0 MB',
    );
    expect(updateView(state({ kind: 'downloading', version: '0.2.0', downloaded: 2048, total: null })).text).toBe(
      'Downloading Patchbay 0.2.0: 2 KB',
    );
    expect(updateView(state({ kind: 'installed', version: '0.2.0' }))).toMatchObject({
      text: 'Patchbay 0.2.0 is installed: restart to use it',
      actions: ['restart'],
    });
  });

  it('shows a refusal as an error and lets the user check again', () => {
    const view = updateView(state({ kind: 'failed', message: 'the update to 0.2.0 was not installed: signature' }));
    expect(view).toMatchObject({ tone: 'error', actions: ['check'] });
    expect(view.text).toContain('signature');
  });

  it('says why a build does not update and offers nothing', () => {
    const view = updateView(state({ kind: 'idle' }, 'this build has no update key'));
    expect(view.text).toBe('Patchbay 0.1.0: updates are off (this build has no update key)');
    expect(view.actions).toEqual([]);
  });
});

describe('byteSize', () => {
  it('uses the largest unit under which the number stays readable', () => {
    expect(byteSize(512)).toBe('512 B');
    expect(byteSize(1536)).toBe('2 KB');
    expect(byteSize(5 * 1048576 + 524288)).toBe('5.5 MB');
  });
});

describe('parseUpdateState', () => {
  it('takes the shell state and drops anything else', () => {
    const good = state({ kind: 'up_to_date' });
    expect(parseUpdateState(good)).toEqual(good);
    expect(parseUpdateState(null)).toBeNull();
    expect(parseUpdateState({ current: '0.1.0', automatic: true })).toBeNull();
    expect(parseUpdateState({ current: 1, automatic: true, phase: { kind: 'idle' } })).toBeNull();
  });
});
