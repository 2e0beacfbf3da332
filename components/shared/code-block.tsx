"use client";
// A command to copy: preformatted text and a copy button.
import { useRef, useState, type ReactNode } from "react";

export function CodeBlock({ children, label }: { children: ReactNode; label?: string }) {
  const ref = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState(false);

  async function copy() {
    const text = ref.current?.textContent ?? "";
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // Clipboard access needs a secure context (https or localhost); selecting by hand still works.
    }
  }

  return (
    <div className="code-block">
      <pre aria-label={label}>
        <code ref={ref}>{children}</code>
      </pre>
      <button type="button" className="code-copy" onClick={() => void copy()}>
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}
