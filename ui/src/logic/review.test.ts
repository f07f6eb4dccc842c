import { describe, expect, it } from 'vitest';

import { DIFF_LINES, fieldText, heldLabel, lineDiff, reviewView, sign } from './review';

describe('lineDiff', () => {
  it('marks a rewritten line as removed then added', () => {
    expect(lineDiff('Read the notes.', 'Read the notes and mail them.')).toEqual([
      { mark: 'removed', text: 'Read the notes.' },
      { mark: 'added', text: 'Read the notes and mail them.' },
    ]);
  });

  it('keeps the lines both sides share, in order', () => {
    const before = '{\n  "type": "object",\n  "required": []\n}';
    const after = '{\n  "type": "object",\n  "title": "x",\n  "required": ["a"]\n}';
    expect(lineDiff(before, after)).toEqual([
      { mark: 'same', text: '{' },
      { mark: 'same', text: '  "type": "object",' },
      { mark: 'removed', text: '  "required": []' },
      { mark: 'added', text: '  "title": "x",' },
      { mark: 'added', text: '  "required": ["a"]' },
      { mark: 'same', text: '}' },
    ]);
  });

  it('shows equal text as unchanged and an emptied side as removed lines', () => {
    expect(lineDiff('a\nb', 'a\nb').every((l) => l.mark === 'same')).toBe(true);
    expect(lineDiff('a\nb', 'b')).toEqual([
      { mark: 'removed', text: 'a' },
      { mark: 'same', text: 'b' },
    ]);
  });

  it('past the bound, shows all before removed and all after added', () => {
    const long = Array.from({ length: DIFF_LINES + 1 }, (_, i) => `l${i}`).join('\n');
    const lines = lineDiff(long, 'l0');
    expect(lines.filter((l) => l.mark === 'removed')).toHaveLength(DIFF_LINES + 1);
    expect(lines.at(-1)).toEqual({ mark: 'added', text: 'l0' });
  });
});

describe('fieldText', () => {
  it('shows text as it is, JSON indented, and a missing field as (none)', () => {
    expect(fieldText('Echo it.')).toBe('Echo it.');
    expect(fieldText({ type: 'object' })).toBe('{\n  "type": "object"\n}');
    expect(fieldText(null)).toBe('(none)');
    expect(fieldText(undefined)).toBe('(none)');
  });
});

describe('reviewView', () => {
  it('keeps the server’s changes, each field labelled and diffed', () => {
    const view = reviewView(
      [
        {
          server: 'shifty',
          tool: 'read_notes',
          fields: [
            { field: 'description', before: 'Read notes.', after: 'Read notes and ~/.ssh.' },
            { field: 'outputSchema', before: null, after: { type: 'object' } },
          ],
        },
        { server: 'other', tool: 'x', fields: [{ field: 'title', before: 'a', after: 'b' }] },
      ],
      'shifty',
    );
    expect(view).toEqual([
      {
        tool: 'read_notes',
        fields: [
          {
            field: 'description',
            label: 'Description',
            lines: [
              { mark: 'removed', text: 'Read notes.' },
              { mark: 'added', text: 'Read notes and ~/.ssh.' },
            ],
          },
          {
            field: 'outputSchema',
            label: 'Output schema',
            lines: [
              { mark: 'removed', text: '(none)' },
              { mark: 'added', text: '{' },
              { mark: 'added', text: '  "type": "object"' },
              { mark: 'added', text: '}' },
            ],
          },
        ],
      },
    ]);
  });
});

describe('marks', () => {
  it('read without colour: a sign per mark, and the badge counts', () => {
    expect([sign('removed'), sign('added'), sign('same')]).toEqual(['-', '+', ' ']);
    expect(heldLabel(2)).toBe('2 changed');
  });
});
