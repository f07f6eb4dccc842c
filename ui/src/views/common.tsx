/** Small pieces every view uses: badges, status lines, confirm buttons, a ticking clock. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import type { Tone } from '../logic/servers';

export function Badge(props: { tone: Tone; label: string; word?: string; testid?: string }) {
  return (
    <span class="badge" data-tone={props.tone} data-state={props.word} data-testid={props.testid}>
      {props.label}
    </span>
  );
}

/** A message the user should hear when it changes (`aria-live`). */
export interface Status {
  text: string;
  tone: Tone;
}

export function StatusLine(props: { status: Status | null; testid: string }) {
  const s = props.status;
  return (
    <p
      class="status"
      role={s?.tone === 'error' ? 'alert' : 'status'}
      aria-live={s?.tone === 'error' ? 'assertive' : 'polite'}
      data-tone={s?.tone}
      data-testid={props.testid}
    >
      {s?.text ?? ''}
    </p>
  );
}

/**
 * A destructive button that asks once more: the first press shows "Remove `x`?" with Confirm
 * (focused) and Cancel; Escape cancels.
 */
export function ConfirmButton(props: {
  label: string;
  question: string;
  confirmLabel: string;
  testid: string;
  disabled?: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (wasAsking.current) openRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button
        type="button"
        class="danger"
        ref={openRef}
        data-testid={props.testid}
        disabled={props.disabled}
        onClick={() => setAsking(true)}
      >
        {props.label}
      </button>
    );
  }
  return (
    <span
      class="confirm"
      role="group"
      aria-label={props.question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') setAsking(false);
      }}
    >
      <span class="confirm-question">{props.question}</span>
      <button
        type="button"
        class="danger"
        ref={confirmRef}
        data-testid={`${props.testid}-confirm`}
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        {props.confirmLabel}
      </button>
      <button type="button" data-testid={`${props.testid}-cancel`} onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** The current time, re-read every `everyMs` while the component is mounted. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(id);
  }, [everyMs]);
  return now;
}

/** A page: its heading takes focus when the page is opened, so keyboard and screen-reader users
 * land on it. */
export function Page(props: { title: string; id: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
  }, []);
  return (
    <section class="page" aria-labelledby={`${props.id}-title`} data-testid={`page-${props.id}`}>
      <header class="page-header">
        <h2 id={`${props.id}-title`} tabIndex={-1} ref={heading}>
          {props.title}
        </h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

/** A list still loading, failed, or empty. */
export function ListState(props: {
  loading: boolean;
  error: string | null;
  empty: boolean;
  emptyText: string;
  testid: string;
}) {
  if (props.error) {
    return (
      <p class="status" role="alert" data-tone="error" data-testid={`${props.testid}-error`}>
        {props.error}
      </p>
    );
  }
  if (props.loading && props.empty) return <p class="muted">Loading...</p>;
  if (props.empty) {
    return (
      <p class="muted" data-testid={`${props.testid}-empty`}>
        {props.emptyText}
      </p>
    );
  }
  return null;
}
