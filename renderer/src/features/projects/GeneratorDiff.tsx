/** A unified diff, coloured line by line (the header lines muted). */
export function GeneratorDiff({ diff }: { diff: string }) {
  const lines = diff.replace(/\n$/, '').split('\n');
  return (
    <pre className="diff" data-testid="generator-diff">
      {lines.map((line, i) => {
        const kind =
          line.startsWith('===') || line.startsWith('---') || line.startsWith('+++') || line.startsWith('Index:')
            ? 'meta'
            : line.startsWith('@@')
              ? 'hunk'
              : line.startsWith('+')
                ? 'add'
                : line.startsWith('-')
                  ? 'del'
                  : 'ctx';
        return (
          <span key={i} className={`diff-${kind}`}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}
