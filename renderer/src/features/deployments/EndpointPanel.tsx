import { useState } from 'react';
import type { ModelView } from '../../../../shared/deploy';
import { useDeployments } from './store';

/** The file name clients keep the group CA in; the snippets refer to it. */
const caFileOf = (model: ModelView) => (model.tls?.mode === 'https' ? `berth-${model.tls.group}-ca.pem` : null);

/** Where clients call the model: every server's gateway, by version and by alias, with copyable snippets. */
export function EndpointPanel() {
  const model = useDeployments((s) => s.model);
  if (!model || model.endpoints.length === 0) return null;
  const aliases = [...new Set(model.versions.flatMap((v) => v.aliases))];
  const live = model.versions.filter((v) => v.state === 'live').map((v) => `v${v.number}`);
  const auth = model.public ? '' : ` \\\n  -H "Authorization: Bearer $BERTH_API_KEY"`;
  const caFile = caFileOf(model);
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
      <pre className="snippet">{`curl -s${caFile ? ` --cacert ${caFile}` : ''} ${model.endpoints[0].baseUrl}/latest/predict${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d '{"inputs": <your input as JSON>}'`}</pre>
      <h3>Python (fails over between the servers)</h3>
      <pre className="snippet" data-testid="python-snippet">{pythonSnippet(model)}</pre>
      {!model.public && <p className="muted small">Create an API key on the Access page; the model is private until you make it public.</p>}
    </section>
  );
}

/** HTTPS: the group CA to download or copy, which every client trusts; plain HTTP: the warning that keys travel in clear. */
function Transport({ model }: { model: ModelView }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const tls = model.tls;
  if (!tls) return null;
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

/**
 * Tries each server in turn, moving on when the connection failed or a server that just restarted is still catching
 * up with its group (503 CatchingUp); anything else is the answer. A connection dropped mid-request is also retried
 * elsewhere, which suits predictions (they change nothing).
 */
function pythonSnippet(model: ModelView): string {
  const servers = model.endpoints.map((e) => `    "${e.baseUrl}",`).join('\n');
  const headers = model.public ? '' : `\n            headers={"Authorization": f"Bearer {os.environ['BERTH_API_KEY']}"},`;
  const caFile = caFileOf(model);
  const verify = caFile ? `\n                verify="${caFile}",  # the group's CA: its gateways' certificates are its own` : '';
  return `import os, requests

SERVERS = [
${servers}
]

def predict(inputs, path="latest"):
    for base in SERVERS:
        try:
            r = requests.post(
                f"{base}/{path}/predict",
                json={"inputs": inputs},${headers}${verify}
                timeout=(3, 30),
            )
        except requests.ConnectionError:
            continue  # this server is down: the next one serves the same versions
        if r.status_code == 503 and r.json().get("error", {}).get("kind") == "CatchingUp":
            continue
        r.raise_for_status()
        return r.json()["predictions"]
    raise RuntimeError("no server of the group answered")

print(predict(your_input))  # any JSON value your entrypoint accepts`;
}
