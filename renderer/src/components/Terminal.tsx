import { useEffect, useImperativeHandle, useRef, forwardRef } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import '@xterm/xterm/css/xterm.css';

export interface TerminalHandle {
  write(text: string): void;
  clear(): void;
  search(term: string, direction?: 'next' | 'previous'): boolean;
}

/**
 * An xterm.js panel for build output and logs. Writes are batched per animation frame so a burst of
 * thousands of lines per second costs one render, and the terminal is disposed on unmount.
 */
export const Terminal = forwardRef<TerminalHandle, { label: string; rows?: number; scrollback?: number }>(function Terminal(
  { label, rows = 16, scrollback = 10_000 },
  ref,
) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm | null>(null);
  const search = useRef<SearchAddon | null>(null);
  const pending = useRef<string[]>([]);
  const frame = useRef<number | null>(null);

  useEffect(() => {
    const xterm = new XTerm({
      rows,
      scrollback,
      convertEol: true,
      disableStdin: true,
      fontSize: 12,
      fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
      theme: { background: '#101318', foreground: '#d8dee9' },
    });
    const fit = new FitAddon();
    const searchAddon = new SearchAddon();
    xterm.loadAddon(fit);
    xterm.loadAddon(searchAddon);
    xterm.open(host.current!);
    fit.fit();
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current!);
    term.current = xterm;
    search.current = searchAddon;
    return () => {
      observer.disconnect();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      xterm.dispose();
      term.current = null;
    };
  }, [rows, scrollback]);

  useImperativeHandle(ref, () => ({
    write(text) {
      pending.current.push(text);
      if (frame.current !== null) return;
      frame.current = requestAnimationFrame(() => {
        frame.current = null;
        const batch = pending.current.join('');
        pending.current = [];
        term.current?.write(batch);
      });
    },
    clear() {
      pending.current = [];
      term.current?.clear();
    },
    search: (termText, direction = 'next') =>
      direction === 'next' ? (search.current?.findNext(termText) ?? false) : (search.current?.findPrevious(termText) ?? false),
  }));

  return <div className="terminal" ref={host} aria-label={label} data-testid={`terminal-${label}`} />;
});
