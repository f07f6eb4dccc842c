import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { setTransport } from '../api';
import { App } from '../app';
import { byTestId, click, maybeTestId, mount, settle, text, type, unmount } from '../test/dom';
import { fakeShell } from '../test/fake';
import type { Fake } from '../test/fake';
import type { CatalogEntry, CatalogRequest } from '../types';
import { SEARCH_DEBOUNCE_MS } from './browse';

const entry = (name: string, over: Partial<CatalogEntry> = {}): CatalogEntry => ({
  name,
  title: null,
  description: `${name} does things`,
  version: '1.0.0',
  icon: null,
  kind: 'npm',
  runtime: 'npx',
  runtime_present: true,
  questions: [],
  problem: null,
  deprecated: false,
  registry: 'snapshot',
  ...over,
});

const ENTRIES = [
  entry('io.example/files', {
    title: 'Files',
    icon: 'https://example.com/files.png',
    questions: [
      { name: 'allowed_directory', description: 'Where it may read', secret: false, default: null, choices: [] },
      { name: 'API_KEY', description: null, secret: true, default: null, choices: [] },
    ],
  }),
  entry('io.example/time', { kind: 'pypi', runtime: 'uvx', runtime_present: false }),
  entry('io.example/remote', { kind: 'remote', runtime: null }),
];

const plan = (request: CatalogRequest, saved: boolean) => ({
  name: request.name.split('/')[1],
  registry_name: request.name,
  version: '1.0.0',
  registry: 'snapshot',
  command_line: `API_KEY=<from the keychain> npx -y files@1.0.0 ${(request.answers ?? [])[0] ?? ''}`,
  env: [],
  secret_env: ['API_KEY'],
  runtime_present: true,
  saved,
});

/** Wait out the search debounce, then let the answer render. */
const debounced = async () => {
  await new Promise((resolve) => setTimeout(resolve, SEARCH_DEBOUNCE_MS + 50));
  await settle();
};

let shell: Fake;
let root: HTMLElement;

beforeEach(async () => {
  shell = fakeShell({
    hub_status: () => ({ version: '0.1.0', pid: 1, config_file: '/c', servers: [], calls_waiting_for_input: 0 }),
    list_servers: () => [],
    get_autostart: () => false,
    search_catalog: (a) => ({
      entries: ENTRIES.filter((e) => e.name.includes(String(a.query))),
      from_snapshot: true,
      failed: [{ registry: 'https://registry.example', error: 'offline' }],
    }),
    preview_catalog: (a) => plan(a.request as CatalogRequest, false),
    add_from_catalog: (a) => plan(a.request as CatalogRequest, true),
  });
  setTransport(shell.transport);
  root = await mount(<App initialPage="browse" />);
  await debounced();
});

afterEach(() => unmount(root));

describe('Browse page', () => {
  it('lists the entries with their icon, kind and runtime', () => {
    expect(maybeTestId('page-browse')).not.toBeNull();
    expect(maybeTestId('browse-snapshot')).not.toBeNull();
    const files = byTestId('browse-entry-io.example/files');
    expect(files.textContent).toContain('Files');
    expect(files.textContent).toContain('io.example/files does things');
    expect(files.querySelector('img')?.getAttribute('src')).toBe('https://example.com/files.png');
    expect(byTestId('browse-kind-io.example/files').dataset.state).toBe('npm');
    expect(byTestId('browse-runtime-io.example/time').dataset.state).toBe('missing');
    expect(text('browse-runtime-io.example/time')).toBe('uvx missing');
    expect(byTestId<HTMLButtonElement>('browse-add-io.example/remote').disabled).toBe(true);
  });

  it('searches once per burst of typing', async () => {
    const before = shell.callsOf('search_catalog').length;
    await type('browse-search', 't');
    await type('browse-search', 'ti');
    await type('browse-search', 'time');
    await debounced();
    const after = shell.callsOf('search_catalog');
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)).toEqual({ query: 'time' });
    expect(maybeTestId('browse-entry-io.example/files')).toBeNull();
    expect(maybeTestId('browse-entry-io.example/time')).not.toBeNull();
  });

  it('asks, shows the exact command and the warning, and adds only on Add', async () => {
    await click('browse-add-io.example/files');
    expect(byTestId<HTMLInputElement>('browse-answer-1').type).toBe('password');
    expect(byTestId<HTMLButtonElement>('browse-confirm').disabled).toBe(true);
    await type('browse-answer-0', '/tmp/shared');
    await type('browse-answer-1', 'sk-secret');
    await click('browse-preview');
    expect(text('browse-command-line')).toBe('API_KEY=<from the keychain> npx -y files@1.0.0 /tmp/shared');
    expect(text('browse-secret-env')).toContain('API_KEY');
    expect(text('browse-warning')).toContain("It will run with your user's rights");
    expect(shell.callsOf('add_from_catalog')).toEqual([]);
    await click('browse-confirm');
    expect(shell.callsOf('add_from_catalog')).toEqual([
      {
        request: {
          name: 'io.example/files',
          version: '1.0.0',
          answers: ['/tmp/shared', 'sk-secret'],
          confirmed: true,
        },
      },
    ]);
    expect(text('browse-status')).toBe('Added `files`.');
    expect(maybeTestId('browse-consent')).toBeNull();
  });

  it('editing an answer after the preview takes the Add away until previewed again', async () => {
    await click('browse-add-io.example/files');
    await type('browse-answer-0', '/a');
    await click('browse-preview');
    expect(byTestId<HTMLButtonElement>('browse-confirm').disabled).toBe(false);
    await type('browse-answer-0', '/b');
    expect(byTestId<HTMLButtonElement>('browse-confirm').disabled).toBe(true);
    expect(maybeTestId('browse-command-line')).toBeNull();
  });

  it('shows the refusal and saves nothing; Cancel closes', async () => {
    shell.on({
      preview_catalog: () => {
        throw { code: 'api', message: 'cannot add it: the record holds a shell metacharacter; refused' };
      },
    });
    await click('browse-add-io.example/files');
    await click('browse-preview');
    expect(text('browse-problem')).toContain('metacharacter');
    expect(byTestId<HTMLButtonElement>('browse-confirm').disabled).toBe(true);
    await click('browse-cancel');
    expect(maybeTestId('browse-consent')).toBeNull();
    expect(shell.callsOf('add_from_catalog')).toEqual([]);
  });
});

describe('Browse page opened by an install link', () => {
  const LINK = 'patchbay://install?v=1&name=probe&server=eyJjb21tYW5kIjoicHl0aG9uMyJ9';
  const linked = entry('probe', {
    kind: 'command',
    runtime: 'python3',
    registry: 'link',
    version: '',
    questions: [{ name: 'API_KEY', description: null, secret: true, default: null, choices: [] }],
  });

  const open = async (link: string) => {
    unmount(root);
    shell.on({ take_opened: () => ({ link }) });
    root = await mount(<App initialPage="servers" />);
    await settle();
  };

  it('opens the same consent view, marked from a link, and adds with the link on Add', async () => {
    shell.on({ preview_link: () => linked });
    await open(LINK);
    expect(shell.callsOf('preview_link')).toEqual([{ link: LINK }]);
    expect(maybeTestId('page-browse')).not.toBeNull();
    expect(byTestId('browse-consent').dataset.origin).toBe('link');
    expect(text('browse-from-link')).toContain('From a link');
    expect(byTestId<HTMLInputElement>('browse-answer-0').type).toBe('password');
    await type('browse-answer-0', 'k3y');
    await click('browse-preview');
    expect(shell.callsOf('preview_catalog').at(-1)).toEqual({
      request: { name: 'probe', link: LINK, answers: ['k3y'] },
    });
    expect(shell.callsOf('add_from_catalog')).toEqual([]);
    await click('browse-confirm');
    expect(shell.callsOf('add_from_catalog')).toEqual([
      { request: { name: 'probe', link: LINK, answers: ['k3y'], confirmed: true } },
    ]);
    expect(maybeTestId('browse-consent')).toBeNull();
  });

  it('declining saves nothing', async () => {
    shell.on({ preview_link: () => linked });
    await open(LINK);
    await click('browse-cancel');
    expect(maybeTestId('browse-consent')).toBeNull();
    expect(shell.callsOf('add_from_catalog')).toEqual([]);
  });

  it('shows the hub\u2019s refusal of a hostile link and no consent view', async () => {
    shell.on({
      preview_link: () => {
        throw { code: 'api', message: 'the link is refused: the record\u2019s argument `a; id` holds a shell metacharacter' };
      },
    });
    await open('patchbay://install?v=1&server=hostile');
    expect(text('browse-link-refused')).toContain('shell metacharacter');
    expect(text('browse-link-refused')).toContain('nothing was added');
    expect(maybeTestId('browse-consent')).toBeNull();
    expect(shell.callsOf('preview_catalog')).toEqual([]);
  });

  it('a link opened while the window is up reaches it through the opened event', async () => {
    shell.on({ preview_link: () => linked, take_opened: () => null });
    expect(maybeTestId('browse-consent')).toBeNull();
    shell.on({ take_opened: () => ({ link: LINK }) });
    shell.emitTo('opened', null);
    await settle();
    expect(shell.callsOf('preview_link')).toEqual([{ link: LINK }]);
    expect(byTestId('browse-consent').dataset.origin).toBe('link');
  });
});

describe('Browse page adding a remote entry', () => {
  it('starts the connect flow to its endpoint and follows it on the Connect page', async () => {
    const remote = entry('io.example/notes', { kind: 'remote', runtime: null, url: 'https://notes.example.com/mcp' });
    shell.on({
      search_catalog: () => ({ entries: [remote], from_snapshot: false, failed: [] }),
      start_connect: () => 'f1',
      sign_in_flow: () => ({ flow: 'f1', server: 'notes', progress: [], finished: false, cancelled: false }),
    });
    await type('browse-search', 'notes');
    await debounced();
    expect(byTestId<HTMLButtonElement>('browse-add-io.example/notes').disabled).toBe(false);
    await click('browse-add-io.example/notes');
    await settle();
    expect(shell.callsOf('start_connect')).toEqual([{ request: { url: 'https://notes.example.com/mcp' } }]);
    expect(maybeTestId('page-connect')).not.toBeNull();
    expect(text('connect-status')).toBe('Starting `notes`...');
    expect(maybeTestId('browse-consent')).toBeNull();
  });

  it('shows why the connect could not start and stays on Browse', async () => {
    const remote = entry('io.example/notes', { kind: 'remote', runtime: null, url: 'https://notes.example.com/mcp' });
    shell.on({
      search_catalog: () => ({ entries: [remote], from_snapshot: false, failed: [] }),
      start_connect: () => {
        throw { code: 'conflict', message: 'a server named `notes` exists' };
      },
    });
    await type('browse-search', 'notes');
    await debounced();
    await click('browse-add-io.example/notes');
    await settle();
    expect(text('browse-status')).toBe('a server named `notes` exists');
    expect(maybeTestId('page-browse')).not.toBeNull();
  });
});

describe('Browse page adding an .mcpb bundle file', () => {
  const FILE = '/home/ada/Downloads/weather.mcpb';
  const bundled = entry('weather', {
    kind: 'bundle',
    runtime: 'node',
    registry: 'bundle',
    version: '1.2.0',
    questions: [
      { name: 'units', description: 'Units: Units', secret: false, default: 'metric', choices: [] },
      { name: 'token', description: 'Token: API token', secret: true, default: null, choices: [] },
    ],
  });
  const bundlePlan = (request: CatalogRequest, saved: boolean) => ({
    ...plan({ ...request, name: 'io.example/weather' }, saved),
    command_line: 'WEATHER_TOKEN=<from the keychain> node /home/ada/.local/share/patchbay/bundles/weather/server/index.js',
    secret_env: ['WEATHER_TOKEN'],
    bundle: {
      file: FILE,
      author: 'Ada',
      signature: 'unsigned',
      requirements: ['node >=18 (found 20.11.1)'],
      dir: '/home/ada/.local/share/patchbay/bundles/weather',
    },
  });

  beforeEach(() => {
    shell.on({
      preview_bundle: () => bundled,
      preview_catalog: (a) => bundlePlan(a.request as CatalogRequest, false),
      add_from_catalog: (a) => bundlePlan(a.request as CatalogRequest, true),
    });
  });

  const consented = async () => {
    expect(byTestId('browse-consent').dataset.origin).toBe('bundle');
    expect(text('browse-from-bundle')).toContain(FILE);
    expect(byTestId<HTMLInputElement>('browse-answer-1').type).toBe('password');
    await type('browse-answer-1', 's3cret');
    await click('browse-preview');
    expect(shell.callsOf('preview_catalog').at(-1)).toEqual({
      request: { name: 'weather', bundle: FILE, answers: ['', 's3cret'] },
    });
    expect(text('browse-command-line')).toContain('node /home/ada/.local/share/patchbay/bundles/weather/server/index.js');
    expect(text('browse-secret-env')).toContain('WEATHER_TOKEN');
    expect(text('browse-bundle-signature')).toBe('By Ada; unsigned.');
    expect(text('browse-bundle-needs')).toContain('node >=18 (found 20.11.1)');
    expect(text('browse-bundle-dir')).toContain('/bundles/weather');
  };

  it('"Add bundle…" picks a file, shows its plan and adds it with the path on Add', async () => {
    shell.on({ pick_bundle: () => FILE });
    await click('browse-add-bundle');
    await settle();
    expect(shell.callsOf('preview_bundle')).toEqual([{ request: { path: FILE } }]);
    await consented();
    await click('browse-confirm');
    expect(shell.callsOf('add_from_catalog')).toEqual([
      { request: { name: 'weather', bundle: FILE, answers: ['', 's3cret'], confirmed: true } },
    ]);
    expect(text('browse-status')).toContain('Added `weather`.');
  });

  it('a registry bundle is fetched for its questions, then asked and added by its name', async () => {
    const listed = entry('io.example/weather', { kind: 'bundle', runtime: null, version: '1.2.0' });
    shell.on({
      search_catalog: () => ({ entries: [listed], from_snapshot: true, failed: [] }),
      preview_bundle: () => ({ ...bundled, name: 'io.example/weather', registry: 'snapshot' }),
    });
    await type('browse-search', 'weather');
    await debounced();
    await click('browse-add-io.example/weather');
    await settle();
    expect(shell.callsOf('preview_bundle')).toEqual([{ request: { name: 'io.example/weather', version: '1.2.0' } }]);
    expect(byTestId('browse-consent').dataset.origin).not.toBe('bundle');
    expect(byTestId<HTMLInputElement>('browse-answer-1').type).toBe('password');
    await type('browse-answer-1', 's3cret');
    await click('browse-preview');
    await click('browse-confirm');
    expect(shell.callsOf('add_from_catalog')).toEqual([
      { request: { name: 'io.example/weather', version: '1.2.0', answers: ['', 's3cret'], confirmed: true } },
    ]);
  });

  it('a registry bundle that cannot be fetched says why and asks nothing', async () => {
    const listed = entry('io.example/weather', { kind: 'bundle', runtime: null, version: '1.2.0' });
    shell.on({
      search_catalog: () => ({ entries: [listed], from_snapshot: true, failed: [] }),
      preview_bundle: () => {
        throw { code: 'invalid', message: 'nothing was added: the bundle at http://x/w.mcpb is not the one the registry lists' };
      },
    });
    await type('browse-search', 'weather');
    await debounced();
    await click('browse-add-io.example/weather');
    await settle();
    expect(text('browse-status')).toContain('is not the one the registry lists');
    expect(maybeTestId('browse-consent')).toBeNull();
  });

  it('a cancelled file picker asks nothing', async () => {
    shell.on({ pick_bundle: () => null });
    await click('browse-add-bundle');
    await settle();
    expect(shell.callsOf('preview_bundle')).toEqual([]);
    expect(maybeTestId('browse-consent')).toBeNull();
  });

  it('a bundle dropped onto the window opens its consent view, and declining saves nothing', async () => {
    await click('nav-servers');
    shell.emitTo('tauri://drag-drop', { paths: [FILE], position: { x: 10, y: 10 } });
    await settle();
    expect(maybeTestId('page-browse')).not.toBeNull();
    expect(shell.callsOf('preview_bundle')).toEqual([{ request: { path: FILE } }]);
    await consented();
    await click('browse-cancel');
    expect(maybeTestId('browse-consent')).toBeNull();
    expect(shell.callsOf('add_from_catalog')).toEqual([]);
  });

  it('a dropped file that is not a bundle is refused with why, and nothing is asked', async () => {
    shell.emitTo('tauri://drag-drop', { paths: ['/home/ada/notes.txt'], position: { x: 1, y: 1 } });
    await settle();
    expect(text('drop-refused')).toContain('`notes.txt` is not an MCP Bundle');
    expect(shell.callsOf('preview_bundle')).toEqual([]);
    expect(maybeTestId('browse-consent')).toBeNull();
    await click('drop-refused-dismiss');
    expect(maybeTestId('drop-refused')).toBeNull();
  });

  it('the app opened with a bundle file shows its consent view; a bad file shows the hub\u2019s refusal', async () => {
    unmount(root);
    shell.on({ take_opened: () => ({ bundle: FILE }) });
    root = await mount(<App initialPage="servers" />);
    await settle();
    expect(maybeTestId('page-browse')).not.toBeNull();
    await consented();

    unmount(root);
    shell.on({
      take_opened: () => ({ bundle: '/tmp/notes.mcpb' }),
      preview_bundle: () => {
        throw { code: 'api', message: 'nothing was added: not an .mcpb bundle (not a zip file)' };
      },
    });
    root = await mount(<App initialPage="servers" />);
    await settle();
    expect(text('browse-bundle-refused')).toContain('not a zip file');
    expect(maybeTestId('browse-consent')).toBeNull();
    expect(shell.callsOf('preview_catalog').filter((c) => JSON.stringify(c).includes('notes'))).toEqual([]);
  });
});
