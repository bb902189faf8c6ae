import { useState } from 'react';
import { errorText } from './ErrorMessage.tsx';

/** A destructive action that asks first, inline, and shows why it failed. */
export function ConfirmButton(props: {
  label: string;
  question: string;
  action: () => Promise<void>;
  small?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.action();
      setAsking(false);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  const className = props.small ? 'danger small' : 'danger';
  if (!asking) {
    return (
      <button type="button" className={className} onClick={() => setAsking(true)} title={props.question}>
        {props.label}
      </button>
    );
  }
  return (
    <span className="confirm">
      <span>{props.question}</span>
      <button type="button" className={className} disabled={busy} onClick={run}>
        Confirm
      </button>
      <button type="button" className="small" disabled={busy} onClick={() => setAsking(false)}>
        Cancel
      </button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
