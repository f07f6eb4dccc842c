/**
 * Tools held back because their server changed their definitions (`hub::review`): each changed
 * field shown as lines before and after, marked line by line. A mark is a word and a sign
 * (`removed` `-`, `added` `+`, `same` two spaces), never a colour alone.
 */
import type { FieldChange, ToolChange } from '../types';

/** What a line of a field's diff is. */
export type Mark = 'removed' | 'added' | 'same';

export interface DiffLine {
  mark: Mark;
  text: string;
}

export interface FieldView {
  /** The field's name as the hub says it (`description`, `inputSchema`, ...). */
  field: string;
  /** What the user reads. */
  label: string;
  lines: DiffLine[];
}

export interface ToolChangeView {
  tool: string;
  fields: FieldView[];
}

/** The most lines a side may have for a line-by-line diff; past it, all before is removed and
 * all after added (the comparison's table grows as the product of both sides). */
export const DIFF_LINES = 2000;

const LABELS: Record<string, string> = {
  title: 'Title',
  description: 'Description',
  inputSchema: 'Input schema',
  outputSchema: 'Output schema',
  annotations: 'Annotations',
};

/** The sign a mark is read with, in text and to screen readers. */
export function sign(mark: Mark): string {
  return mark === 'removed' ? '-' : mark === 'added' ? '+' : ' ';
}

/** A field's value as lines of text: a string as it is, anything else as indented JSON. */
export function fieldText(value: unknown): string {
  if (value === null || value === undefined) return '(none)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** `before` and `after` line by line: a longest common subsequence of lines is kept as `same`,
 * the rest of `before` is `removed` and of `after` `added`, removals first at each place. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > DIFF_LINES || b.length > DIFF_LINES) {
    return [
      ...a.map((text) => ({ mark: 'removed' as const, text })),
      ...b.map((text) => ({ mark: 'added' as const, text })),
    ];
  }
  // common[i][j]: the longest common subsequence of a[i..] and b[j..]
  const common: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i]![j] =
        a[i] === b[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ mark: 'same', text: a[i]! });
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || common[i + 1]![j]! >= common[i]![j + 1]!)) {
      lines.push({ mark: 'removed', text: a[i]! });
      i++;
    } else {
      lines.push({ mark: 'added', text: b[j]! });
      j++;
    }
  }
  return lines;
}

export function fieldView(change: FieldChange): FieldView {
  return {
    field: change.field,
    label: LABELS[change.field] ?? change.field,
    lines: lineDiff(fieldText(change.before), fieldText(change.after)),
  };
}

/** `server`'s held changes, in the hub's order, each field as a diff. */
export function reviewView(changes: ToolChange[], server: string): ToolChangeView[] {
  return changes
    .filter((c) => c.server === server)
    .map((c) => ({ tool: c.tool, fields: c.fields.map(fieldView) }));
}

/** The badge of a server with tools held back: "1 changed". */
export function heldLabel(held: number): string {
  return `${held} changed`;
}
