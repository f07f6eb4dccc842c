/** Durations and times as the views print them. Pure: every function takes "now". */

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A span in seconds in its two largest units: `2d 03h`, `1h 02m`, `4m 05s`, `12s`. The twin of
 * the core's `human::span` (CLI and tray): both are tested against `tests/fixtures/spans.json`.
 */
export function formatSpan(totalSecs: number): string {
  const secs = Math.max(0, Math.floor(totalSecs));
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/**
 * Time left until `expiresAtMs`, for a countdown that ticks every second: `in 4m 05s`,
 * `expired 12s ago`, or `no expiry` when the token has none.
 */
export function formatCountdown(expiresAtMs: number | null, nowMs: number): string {
  if (expiresAtMs === null) return 'no expiry';
  const left = Math.floor((expiresAtMs - nowMs) / 1000);
  if (left > 0) return `in ${formatSpan(left)}`;
  if (left === 0) return 'expires now';
  return `expired ${formatSpan(-left)} ago`;
}

/** A call's wall time: `850 ms`, `1.2 s`, `2m 05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatSpan(ms / 1000);
}

/** A wall-clock time in local time, `14:03:07`, with the date in front when not today. */
export function formatClock(ms: number, nowMs: number): string {
  const t = new Date(ms);
  const now = new Date(nowMs);
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
  const sameDay =
    t.getFullYear() === now.getFullYear() && t.getMonth() === now.getMonth() && t.getDate() === now.getDate();
  if (sameDay) return time;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}
