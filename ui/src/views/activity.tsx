/** Activity: the most recent tool calls, newest first, live. No arguments or results: they may
 * hold secrets, and the hub does not keep them. */
import { outcomeView } from '../logic/activity';
import { formatClock, formatDuration } from '../logic/time';
import type { ResourceHandle } from '../resource';
import type { CallRecord } from '../types';
import { Badge, ListState, Page, useNow } from './common';

export function ActivityPage(props: { calls: ResourceHandle<CallRecord[]> }) {
  const { state, reload } = props.calls;
  const list = state.data ?? [];
  // only to know "today" for the time column; a minute is plenty
  const now = useNow(60_000);
  return (
    <Page
      id="activity"
      title="Activity"
      actions={
        <button type="button" data-testid="activity-refresh" onClick={() => void reload()}>
          Refresh
        </button>
      }
    >
      <ListState
        loading={state.loading}
        error={state.error}
        empty={list.length === 0}
        emptyText="No tool calls yet. They appear here as your clients make them."
        testid="activity"
      />
      {list.length > 0 && (
        <table class="list" data-testid="activity-table">
          <caption class="visually-hidden">Recent tool calls, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Server</th>
              <th scope="col">Tool</th>
              <th scope="col">Client</th>
              <th scope="col">Duration</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => {
              const o = outcomeView(c.outcome);
              return (
                <tr
                  key={`${c.started_ms}-${c.server}-${c.tool}-${c.duration_ms}`}
                  data-testid="activity-row"
                  data-server={c.server}
                  data-tool={c.tool}
                  data-outcome={c.outcome}
                >
                  <td>
                    <time dateTime={new Date(c.started_ms).toISOString()}>{formatClock(c.started_ms, now)}</time>
                  </td>
                  <td>{c.server}</td>
                  <td>
                    <code>{c.tool}</code>
                  </td>
                  <td>{c.client ?? <span class="muted">unknown</span>}</td>
                  <td class="num">{formatDuration(c.duration_ms)}</td>
                  <td>
                    <Badge tone={o.tone} label={o.label} word={c.outcome} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Page>
  );
}
