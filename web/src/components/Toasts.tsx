/** Short-lived notices (a placed order, an alert) in a polite live region; each can be dismissed with the keyboard. */
import { useCallback, useRef, useState } from 'preact/hooks';

export interface Toast {
  id: number;
  text: string;
  tone: 'ok' | 'warn' | 'error';
}

export function useToasts() {
  const [list, setList] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setList((xs) => xs.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (text: string, tone: Toast['tone'] = 'ok') => {
      const id = next.current++;
      setList((xs) => [...xs.slice(-4), { id, text, tone }]);
      setTimeout(() => dismiss(id), tone === 'error' ? 10_000 : 6_000);
    },
    [dismiss],
  );
  return { list, push, dismiss };
}

export function Toasts(props: { toasts: Toast[]; onDismiss(id: number): void }) {
  return (
    <div class="toasts" role="status" aria-live="polite" data-testid="toasts">
      {props.toasts.map((t) => (
        <div key={t.id} class={`toast ${t.tone}`} data-testid={`toast-${t.tone}`}>
          <span>{t.text}</span>
          <button type="button" class="icon" aria-label="Dismiss" onClick={() => props.onDismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
