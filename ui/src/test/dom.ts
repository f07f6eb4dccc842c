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

export async function type(id: string, value: string): Promise<void> {
  const el = byTestId<HTMLInputElement>(id);
  await act(() => {
    el.value = value;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await settle();
}

/** Pick `value` in the select `id`, as a user does. */
export async function choose(id: string, value: string): Promise<void> {
  const el = byTestId<HTMLSelectElement>(id);
  await act(() => {
    el.value = value;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await settle();
}

export function text(id: string): string {
  return (byTestId(id).textContent ?? '').trim();
}
