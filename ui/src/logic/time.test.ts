import { describe, expect, it } from 'vitest';

import spans from '../../../tests/fixtures/spans.json';
import { formatClock, formatCountdown, formatDuration, formatSpan } from './time';

describe('formatSpan', () => {
  it('says a span in its two largest units, as the CLI and tray do', () => {
    expect(spans.spans.length).toBeGreaterThanOrEqual(10);
    for (const [secs, text] of spans.spans) {
      expect(formatSpan(Number(secs)), `${secs} s`).toBe(text);
    }
    expect(formatSpan(3600 + 2 * 60 + 5)).toBe('1h 02m');
    expect(formatSpan(2 * 86400 + 3 * 3600 + 59)).toBe('2d 03h');
  });

  it('floors fractions and clamps negatives', () => {
    expect(formatSpan(9.99)).toBe('9s');
    expect(formatSpan(-5)).toBe('0s');
  });
});

describe('formatCountdown', () => {
  const now = 1_700_000_000_000;

  it('counts down one second at a time', () => {
    const at = now + 65_000;
    expect(formatCountdown(at, now)).toBe('in 1m 05s');
    expect(formatCountdown(at, now + 1000)).toBe('in 1m 04s');
    expect(formatCountdown(at, now + 64_000)).toBe('in 1s');
  });

  it('says when it expired', () => {
    expect(formatCountdown(now, now)).toBe('expires now');
    expect(formatCountdown(now - 12_000, now)).toBe('expired 12s ago');
    expect(formatCountdown(now - 3_600_000, now)).toBe('expired 1h 00m ago');
  });

  it('says when there is no expiry', () => {
    expect(formatCountdown(null, now)).toBe('no expiry');
  });

  it('does not round a partial second up (no "in 1s" at 0.4 s left then a jump)', () => {
    expect(formatCountdown(now + 1999, now)).toBe('in 1s');
    expect(formatCountdown(now + 400, now)).toBe('expires now');
  });
});

describe('formatDuration', () => {
  it('uses ms, then seconds, then minutes', () => {
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(59_999)).toBe('60.0 s');
    expect(formatDuration(125_000)).toBe('2m 05s');
  });
});

describe('formatClock', () => {
  it('shows only the time today, the date too otherwise', () => {
    const t = new Date(2026, 10, 22, 14, 3, 7).getTime();
    expect(formatClock(t, new Date(2026, 10, 22, 23, 0, 0).getTime())).toBe('14:03:07');
    expect(formatClock(t, new Date(2026, 10, 23, 0, 0, 1).getTime())).toBe('2026-11-22 14:03:07');
  });
});
