import type { ModelView } from '../../../../shared/deploy';
import { useDeployments } from './store';

/** Where clients call the model: every server's gateway, by version and by alias, with copyable snippets. */
export function EndpointPanel() {
  const model = useDeployments((s) => s.model);
  if (!model || model.endpoints.length === 0) return null;
  const aliases = [...new Set(model.versions.flatMap((v) => v.aliases))];
  const live = model.versions.filter((v) => v.state === 'live').map((v) => `v${v.number}`);
  const auth = model.public ? '' : ` \\\n  -H "Authorization: Bearer $BERTH_API_KEY"`;
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
      <h3>curl</h3>
      <pre className="snippet">{`curl -s ${model.endpoints[0].baseUrl}/latest/predict${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d '{"inputs": <your input as JSON>}'`}</pre>
      <h3>Python (fails over between the servers)</h3>
      <pre className="snippet" data-testid="python-snippet">{pythonSnippet(model)}</pre>
      {!model.public && <p className="muted small">Create an API key on the Access page; the model is private until you make it public.</p>}
    </section>
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
  return `import os, requests

SERVERS = [
${servers}
]

def predict(inputs, path="latest"):
    for base in SERVERS:
        try:
            r = requests.post(
                f"{base}/{path}/predict",
                json={"inputs": inputs},${headers}
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
