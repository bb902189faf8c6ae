import { useState } from 'react';

/** A command shown whole, with a button that puts it on the clipboard. */
export function CopyText(props: { text: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // No clipboard (plain HTTP on another host): the text stays selectable.
      setCopied(false);
    }
  };
  return (
    <div className="copy">
      <code data-testid={props.testId}>{props.text}</code>
      <button type="button" className="small" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}
