/** One line per server: what a change did there (the push of the team's keys, or a routes.json publish). */
export function ServerResults({
  title,
  results,
  note,
  testId,
}: {
  title: string;
  results: { server: string; ok: boolean; error?: string }[];
  note?: string;
  testId: string;
}) {
  return (
    <div className="server-results" data-testid={testId}>
      <strong>{title}</strong>
      {note && <span className="warn"> {note}</span>}
      {results.length === 0 && !note && <span className="muted"> no servers registered</span>}
      <ul>
        {results.map((r) => (
          <li key={r.server} data-server={r.server} className={r.ok ? 'ok' : 'bad'}>
            {r.ok ? '✓' : '✗'} {r.server}
            {r.error && <span className="small"> — {r.error}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}
