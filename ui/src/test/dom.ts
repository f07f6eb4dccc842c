/** Mounting the window in happy-dom and driving it as a user would. */
import { render } from 'preact';
import type { VNode } from 'preact';
import { act } from 'preact/test-utils';

export async function mount(vnode: VNode): Promise<HTMLElement> {
  document.body.innerHTML = '';
  const root = document.createElement('div');
  document.body.appendChild(root);
  await act(() => {
    render(vnode, root);
  });
  await settle();
  return root;
}

export function unmount(root: HTMLElement): void {
  render(null, root);
}

/** Let pending promises (fake shell answers) and the renders they cause finish. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await act(async () => {
      await Promise.resolve();
    });
  }
}

export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`no element with data-testid="${id}"`);
  return el;
}

export function maybeTestId(id: string): HTMLElement | null {
  return document.querySelector(`[data-testid="${id}"]`);
}

export async function click(id: string): Promise<void> {
  const el = byTestId(id);
  await act(() => {
    el.click();
  });
  await settle();
}

/** Set the value of the field `id` and fire the event a user's edit fires. */
async function enter(id: string, value: string, event: 'input' | 'change'): Promise<void> {
  const el = byTestId<HTMLInputElement | HTMLSelectElement>(id);
  await act(() => {
    el.value = value;
    el.dispatchEvent(new Event(event, { bubbles: true }));
  });
  await settle();
}

export const type = (id: string, value: string) => enter(id, value, 'input');

/** Pick `value` in the select `id`, as a user does. */
export const choose = (id: string, value: string) => enter(id, value, 'change');

export function text(id: string): string {
  return (byTestId(id).textContent ?? '').trim();
}
