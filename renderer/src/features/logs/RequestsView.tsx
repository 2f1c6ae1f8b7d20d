import { useEffect, useState } from 'react';
import type { InferenceRecord } from '../../../../shared/logs';
import { isElectron } from '../../api/client';
import { ErrorBanner } from '../../components/ErrorBanner';
import { callerLabel, NO_KEY } from './callers';
import { Charts } from './Charts';
import { PAGE_SIZE, useRequests, type Filters, type RangeKey } from './store';

const statusClass = (status: number | null) => (status === null ? 'muted' : status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok');

function RecordRow({ record, keyNames }: { record: InferenceRecord; keyNames: ReadonlyMap<string, string> }) {
  const [open, setOpen] = useState(false);
  const caller = callerLabel(record.caller, keyNames);
  return (
    <>
      <tr className="obs-record" onClick={() => setOpen(!open)} data-request={record.requestId}>
        <td className="obs-time">{new Date(record.ts).toLocaleString()}</td>
        <td>{record.server}</td>
        <td>
          {record.model ?? '?'} {record.version ? `v${record.version}` : <span className="muted" title="Refused before it reached a version">no version</span>}
          {record.alias ? <span className="muted"> ({record.alias})</span> : null}
        </td>
        <td className={statusClass(record.status)}>{record.status ?? '–'}</td>
        <td>{record.latencyMs === null ? '–' : `${record.latencyMs.toFixed(1)} ms`}</td>
        <td className={caller === NO_KEY ? 'muted' : undefined} title={record.caller ?? undefined}>{caller}</td>
        <td className="obs-clip">{record.error ?? record.output ?? ''}</td>
      </tr>
      {open && (
        <tr className="obs-record-detail">
          <td colSpan={7}>
            <dl className="facts">
              <dt>Request id</dt>
              <dd>
                <code>{record.requestId}</code> · from {record.sources === 'both' ? 'gateway + replica' : record.sources} log
                {record.replica ? ` · ${record.replica}${record.replicaLatencyMs !== null ? ` (${record.replicaLatencyMs.toFixed(1)} ms in the model)` : ''}` : ''}
              </dd>
              <dt>Input</dt>
              <dd><pre>{record.input ?? '—'}</pre></dd>
              <dt>Output</dt>
              <dd><pre>{record.output ?? '—'}</pre></dd>
              {record.error && (
                <>
                  <dt>Error</dt>
                  <dd><pre className="bad">{record.error}</pre></dd>
                </>
              )}
            </dl>
          </td>
        </tr>
      )}
    </>
  );
}

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Search the pulled inference records: filters, full-text, charts per version, gaps, export. */
export function RequestsView() {
  const { filters, result, stats, sync, keyNames, page, busy, error, setFilter, search, pull, exportText, exportFile, dismiss } = useRequests();
  const [exportPath, setExportPath] = useState('');
  const [exported, setExported] = useState<string>();
  useEffect(() => void search(0), [search]);

  const field = <K extends keyof Filters>(key: K, label: string, placeholder = '') => (
    <input aria-label={label} placeholder={placeholder || label} value={filters[key]} onChange={(e) => setFilter(key, e.target.value as Filters[K])}
      onKeyDown={(e) => e.key === 'Enter' && void search(0)} />
  );

  const doExport = async (format: 'csv' | 'jsonl') => {
    if (exportPath) {
      const rows = await exportFile(format, exportPath);
      if (rows !== undefined) setExported(`${rows} records written to ${exportPath}`);
      return;
    }
    const out = await exportText(format);
    if (!out) return;
    download(`berth-requests.${format}`, out.text, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
    setExported(`${out.rows} records exported`);
  };

  return (
    <section className="obs-requests">
      <ErrorBanner error={error} onDismiss={dismiss} />
      <form className="row obs-filters" onSubmit={(e) => (e.preventDefault(), void search(0))}>
        <select aria-label="Time range" value={filters.range} onChange={(e) => setFilter('range', e.target.value as RangeKey)}>
          <option value="15m">Last 15 minutes</option>
          <option value="1h">Last hour</option>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
          <option value="all">All time</option>
        </select>
        {field('model', 'Model')}
        {field('version', 'Version')}
        <select aria-label="Status" value={filters.status} onChange={(e) => setFilter('status', e.target.value as Filters['status'])}>
          <option value="">Any status</option>
          <option value="ok">Succeeded</option>
          <option value="error">Failed (4xx, 5xx, errors)</option>
          <option value="client_error">4xx</option>
          <option value="server_error">5xx</option>
        </select>
        {field('caller', 'Caller', 'Caller key id')}
        {field('server', 'Server')}
        <input className="obs-text" aria-label="Search text" placeholder="Search input, output, errors" value={filters.text}
          onChange={(e) => setFilter('text', e.target.value)} />
        <button className="primary" type="submit" disabled={busy}>Search</button>
        <button type="button" onClick={() => void pull()} disabled={busy} title="Pull new records from every server now">
          Pull now
        </button>
      </form>
      {sync && (
        <p className="muted obs-sync" data-testid="sync-result">
          {sync.servers.map((s) => (s.error ? `${s.server}: ${s.error}` : `${s.server}: +${s.gateway} gateway, +${s.replica} replica lines`)).join(' · ')}
        </p>
      )}
      {result?.gaps.length ? (
        <div className="obs-gaps" role="alert" data-testid="ingest-gaps">
          <strong>Some records are missing.</strong> Log rotation on a server removed them before Berth pulled them (Berth pulls while it runs;
          raise the gateway's log size or keep Berth running to avoid this):
          <ul>
            {result.gaps.map((g) => (
              <li key={g.id}>{g.message}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {stats && <Charts stats={stats} />}
      {result && (
        <>
          <div className="row">
            <span className="muted" data-testid="search-summary">
              {result.records.length === 0
                ? 'No requests match.'
                : `Requests ${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + result.records.length}${result.more ? ' of more' : ''} · ${result.tookMs} ms`}
            </span>
            <span className="spacer" />
            <button onClick={() => void search(page - 1)} disabled={busy || page === 0}>Newer</button>
            <button onClick={() => void search(page + 1)} disabled={busy || !result.more}>Older</button>
          </div>
          <table className="table obs-table" data-testid="request-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Server</th>
                <th>Model</th>
                <th>Status</th>
                <th>Latency</th>
                <th>Caller</th>
                <th>Output / error</th>
              </tr>
            </thead>
            <tbody>
              {result.records.map((r) => (
                <RecordRow key={r.id} record={r} keyNames={keyNames} />
              ))}
            </tbody>
          </table>
        </>
      )}
      <div className="row obs-export">
        <span>Export the matching records:</span>
        <input className="wide" aria-label="Export to file" placeholder={isElectron ? 'File path (empty: download)' : 'File path on this machine (empty: download)'}
          value={exportPath} onChange={(e) => setExportPath(e.target.value)} />
        <button onClick={() => void doExport('csv')} disabled={busy}>CSV</button>
        <button onClick={() => void doExport('jsonl')} disabled={busy}>JSONL</button>
        {exported && <span className="muted">{exported}</span>}
      </div>
    </section>
  );
}
