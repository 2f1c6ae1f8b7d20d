import { useDeployments } from './store';

/** Where clients call the model: each server's gateway, by version and by alias, with copyable snippets. */
export function EndpointPanel() {
  const model = useDeployments((s) => s.model);
  if (!model || model.endpoints.length === 0) return null;
  const aliases = [...new Set(model.versions.flatMap((v) => v.aliases))];
  const live = model.versions.filter((v) => v.state === 'live').map((v) => `v${v.number}`);
  const first = model.endpoints[0].baseUrl;
  const auth = model.public ? '' : ` \\\n  -H "Authorization: Bearer $BERTH_API_KEY"`;
  return (
    <section className="card" aria-label="Endpoints" data-testid="endpoints">
      <h2>Endpoints</h2>
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
      <pre className="snippet">{`curl -s ${first}/latest/predict${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d '{"inputs": <your input as JSON>}'`}</pre>
      <h3>Python</h3>
      <pre className="snippet">{`import os, requests

r = requests.post(
    "${first}/latest/predict",
    json={"inputs": your_input},  # any JSON value your entrypoint accepts${model.public ? '' : '\n    headers={"Authorization": f"Bearer {os.environ[\'BERTH_API_KEY\']}"},'}
    timeout=10,
)
r.raise_for_status()
print(r.json()["predictions"])`}</pre>
      {!model.public && <p className="muted small">Create an API key on the Access page; the model is private until you make it public.</p>}
    </section>
  );
}
