/**
 * A modal on the native <dialog>: focus moves into it and is trapped there, Escape closes it, and focus returns to
 * what opened it — keyboard users get all of that from the browser.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function Dialog(props: {
  title: string;
  onClose(): void;
  children: ComponentChildren;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    d.showModal();
    return () => {
      d.close();
      opener?.focus?.();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      data-testid={props.testId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <header class="panel-head">
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

/** A dialog form's foot: the error (if any), a button that closes, and the submit button. */
export function DialogActions(props: {
  error: string | null;
  closeLabel: string;
  onClose(): void;
  submitLabel: string;
  disabled: boolean;
  submitTestId?: string;
}) {
  return (
    <>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <div class="row end">
        <button type="button" onClick={props.onClose}>
          {props.closeLabel}
        </button>
        <button type="submit" class="primary" disabled={props.disabled} data-testid={props.submitTestId}>
          {props.submitLabel}
        </button>
      </div>
    </>
  );
}
