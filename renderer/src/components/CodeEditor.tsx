import { useEffect, useRef } from 'react';
import { monaco } from './monaco';

interface CodeEditorProps {
  value: string;
  language: 'dockerfile' | 'python' | 'plaintext' | 'json';
  readOnly?: boolean;
  onChange?: (value: string) => void;
  height?: number | string;
  /** Lines to highlight (1-based, inclusive), e.g. the lines that came from one notebook cell. */
  highlight?: { startLine: number; endLine: number } | null;
  label: string;
}

const themeOf = () => (document.documentElement.dataset.theme === 'dark' ||
  (document.documentElement.dataset.theme === 'system' && matchMedia('(prefers-color-scheme: dark)').matches)
  ? 'vs-dark'
  : 'vs');

/** A Monaco editor that is created once per mount and disposed on unmount (with its model). */
export function CodeEditor({ value, language, readOnly = false, onChange, height = 360, highlight, label }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<monaco.editor.IStandaloneCodeEditor | null>(null);
  const decorations = useRef<monaco.editor.IEditorDecorationsCollection | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    const instance = monaco.editor.create(host.current!, {
      value,
      language,
      readOnly,
      theme: themeOf(),
      automaticLayout: true,
      minimap: { enabled: false },
      stickyScroll: { enabled: false },
      scrollBeyondLastLine: false,
      fontSize: 13,
      ariaLabel: label,
    });
    editor.current = instance;
    decorations.current = instance.createDecorationsCollection();
    const subscription = instance.onDidChangeModelContent(() => onChangeRef.current?.(instance.getValue()));
    return () => {
      subscription.dispose();
      instance.getModel()?.dispose();
      instance.dispose();
      editor.current = null;
    };
    // The editor is created once; value/readOnly changes are applied below without recreating it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [language]);

  useEffect(() => {
    const instance = editor.current;
    if (instance && instance.getValue() !== value) instance.setValue(value);
  }, [value]);

  useEffect(() => editor.current?.updateOptions({ readOnly }), [readOnly]);

  // Follow the app's theme while mounted (Monaco's theme is global to all editors).
  useEffect(() => {
    const observer = new MutationObserver(() => monaco.editor.setTheme(themeOf()));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (!decorations.current) return;
    decorations.current.set(
      highlight
        ? [{ range: new monaco.Range(highlight.startLine, 1, highlight.endLine, 1), options: { isWholeLine: true, className: 'editor-highlight' } }]
        : [],
    );
    if (highlight) editor.current?.revealLineInCenter(highlight.startLine);
  }, [highlight]);

  return <div className="code-editor" ref={host} style={{ height }} data-testid={`editor-${label}`} />;
}
