import { describe, expect, it } from 'vitest';

import { dropPaths, droppedBundle, parseOpened } from './opened';

describe('what the app was opened with', () => {
  it('reads a link or a bundle, and nothing else', () => {
    expect(parseOpened({ link: 'patchbay://install?v=1' })).toEqual({ link: 'patchbay://install?v=1' });
    expect(parseOpened({ bundle: '/tmp/w.mcpb' })).toEqual({ bundle: '/tmp/w.mcpb' });
    expect(parseOpened(null)).toBeNull();
    expect(parseOpened('patchbay://install?v=1')).toBeNull();
    expect(parseOpened({ bundle: 7 })).toBeNull();
  });
});

describe('a drop onto the window', () => {
  it('adds the one .mcpb file dropped, whatever the case of its extension', () => {
    expect(droppedBundle(['/home/ada/weather.mcpb'])).toEqual({ bundle: '/home/ada/weather.mcpb' });
    expect(droppedBundle(['C:\\Users\\ada\\Weather.MCPB', '/home/ada/notes.txt'])).toEqual({
      bundle: 'C:\\Users\\ada\\Weather.MCPB',
    });
  });

  it('says why a drop adds nothing: not a bundle, or several', () => {
    const notOne = droppedBundle(['/home/ada/notes.txt']);
    expect(notOne).toEqual({
      refused: '`notes.txt` is not an MCP Bundle: only .mcpb files can be added by dropping them here. Nothing was added.',
    });
    const none = droppedBundle(['/a/x.zip', 'C:\\b\\y.json']);
    expect(none && 'refused' in none && none.refused).toContain('`x.zip`, `y.json` are not MCP Bundles');
    const two = droppedBundle(['/a/x.mcpb', '/a/y.mcpb']);
    expect(two && 'refused' in two && two.refused).toContain('drop one .mcpb file at a time');
    expect(droppedBundle([])).toBeNull();
  });

  it('reads the paths of the shell\u2019s drop payload', () => {
    expect(dropPaths({ paths: ['/a.mcpb'], position: { x: 1, y: 2 } })).toEqual(['/a.mcpb']);
    expect(dropPaths({ position: { x: 1, y: 2 } })).toEqual([]);
    expect(dropPaths(null)).toEqual([]);
  });
});
