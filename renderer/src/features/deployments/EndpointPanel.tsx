import { LOCAL_GROUP } from '../../../../shared/project-file';
import { useState } from 'react';
import type { ModelView } from '../../../../shared/deploy';
import { caFileOf, curlSnippet, pythonSnippet, sampleFor } from './snippets';
import { useDeployments } from './store';

/** Where clients call the model: every server's gateway, by version and by alias, with copyable snippets. */
export function EndpointPanel() {
  const model = useDeployments((s) => s.model);
  const builds = useDeployments((s) => s.builds);
  if (!model || model.endpoints.length === 0) return null;
  const aliases = [...new Set(model.versions.flatMap((v) => v.aliases))];
  const live = model.versions.filter((v) => v.state === 'live').map((v) => `v${v.number}`);
  const sample = sampleFor(model, builds);
  return (
    <section className="card" aria-label="Endpoints" data-testid="endpoints">
      <h2>Endpoints</h2>
      <p className="muted small">Every server answers for every version; a server without a healthy replica passes the request to one that has.</p>
      <table className="table">
        <tbody>
          {model.endpoints.map((e) => (
            <tr key={e.server}>
              <td>{e.server}</td>
              <td className="mono small">
                {[...aliases, ...live].map((path) => (
                  <div key={path}>
                    {e.baseUrl}/{path}/predict
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Transport model={model} />
      <h3>curl</h3>
      <pre className="snippet" data-testid="curl-snippet">{curlSnippet(model, sample)}</pre>
      <h3>Python (fails over between the servers)</h3>
      <pre className="snippet" data-testid="python-snippet">{pythonSnippet(model, sample)}</pre>
      {sample !== undefined && <p className="muted small">Filled with the notebook's sample input, as the smoke test sent it.</p>}
      {!model.public && <p className="muted small">Create an API key on the Access page; the model is private until you make it public.</p>}
    </section>
  );
}

/** HTTPS: the group CA to download or copy, which every client trusts; plain HTTP: the warning that keys travel in clear. */
function Transport({ model }: { model: ModelView }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const tls = model.tls;
  if (!tls) return null;
  if (tls.mode === 'off' && tls.group === LOCAL_GROUP) {
    return <p className="muted small" data-testid="loopback-note">Group {tls.group} is this computer: plain HTTP on 127.0.0.1 only, so keys and predictions never leave it.</p>;
  }
  if (tls.mode === 'off') {
    return (
      <p className="warn" data-testid="plain-http-warning">
        Group {tls.group} serves plain HTTP: API keys and predictions cross the network unencrypted. An admin switches it to HTTPS on the Servers page
        (or <code>berth groups tls {tls.group} https</code>).
      </p>
    );
  }
  if (!tls.authority) return <p className="muted small">Group {tls.group} serves HTTPS; its certificate authority is made with its first server certificate.</p>;
  const authority = tls.authority;
  const copy = () => navigator.clipboard.writeText(authority).then(() => setCopied('yes'), () => setCopied('failed'));
  return (
    <div data-testid="group-ca">
      <p className="muted small">
        Served over HTTPS with certificates of group {tls.group}'s own authority: clients trust it with this file (also <code>berth groups ca {tls.group}</code>).
      </p>
      <a href={`data:application/x-pem-file;charset=utf-8,${encodeURIComponent(authority)}`} download={caFileOf(model)!}>
        Download {caFileOf(model)}
      </a>{' '}
      <button onClick={copy}>{copied === 'yes' ? 'Copied' : 'Copy the CA certificate'}</button>
      {copied === 'failed' && <p className="bad small">The clipboard is not available here: download the file instead.</p>}
    </div>
  );
}
