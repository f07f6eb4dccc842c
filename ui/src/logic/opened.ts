/**
 * What the window is asked to add from outside the catalogue: an install link or an `.mcpb`
 * bundle file the app was opened with (the shell's `take_opened`), and files dropped onto the
 * window. Pure functions: the shell's payloads read, and a drop told apart (one bundle file, or
 * why not).
 */

/** An install link (`patchbay://install?...`) or the absolute path of a bundle file. */
export type Opened = { link: string } | { bundle: string };

/** The file extension of MCP Bundles. */
export const BUNDLE_EXTENSION = '.mcpb';

/** The shell's `take_opened` answer (`{link}` or `{bundle}`), or null for anything else. */
export function parseOpened(payload: unknown): Opened | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const p = payload as Record<string, unknown>;
  if (typeof p.link === 'string') return { link: p.link };
  if (typeof p.bundle === 'string') return { bundle: p.bundle };
  return null;
}

/** The file name at the end of `path` (either separator). */
function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** Whether `path` names an `.mcpb` file (any case). */
export function isBundle(path: string): boolean {
  return path.toLowerCase().endsWith(BUNDLE_EXTENSION);
}

/**
 * What a drop of `paths` adds: the one `.mcpb` file among them, or why nothing is added (no
 * bundle, or several); null for an empty drop.
 */
export function droppedBundle(paths: readonly string[]): { bundle: string } | { refused: string } | null {
  if (paths.length === 0) return null;
  const bundles = paths.filter(isBundle);
  const [first] = bundles;
  if (bundles.length === 1 && first !== undefined) return { bundle: first };
  if (bundles.length > 1) {
    return { refused: `${bundles.length} bundles were dropped; drop one .mcpb file at a time. Nothing was added.` };
  }
  const names = paths.map((p) => `\`${fileName(p)}\``).join(', ');
  return {
    refused: `${names} ${paths.length === 1 ? 'is not an MCP Bundle' : 'are not MCP Bundles'}: only .mcpb files can be added by dropping them here. Nothing was added.`,
  };
}

/** The paths of a drop's payload (`{paths, position}`); none when it carries none. */
export function dropPaths(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null) return [];
  const paths = (payload as { paths?: unknown }).paths;
  return Array.isArray(paths) ? paths.filter((p): p is string => typeof p === 'string') : [];
}
