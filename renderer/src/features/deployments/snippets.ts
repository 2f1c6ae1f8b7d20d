import type { BuildRecord } from '../../../../shared/build';
import type { ModelView } from '../../../../shared/deploy';

/** A JSON value the snippets send as `inputs`. */
export type Sample = unknown;

/** Shown when no build of this Berth knows the model's sample (e.g. a version deployed by a teammate). */
const NO_SAMPLE = '<your input as JSON>';

/** The file name clients keep the group CA in; the snippets refer to it. */
export const caFileOf = (model: ModelView) => (model.tls?.mode === 'https' ? `berth-${model.tls.group}-ca.pem` : null);

/**
 * The notebook's sample input that `latest` passed its smoke test with: the build of latest's image, else the
 * model's newest smoke-tested build; undefined when this Berth has neither.
 */
export function sampleFor(model: ModelView, builds: BuildRecord[]): Sample | undefined {
  const latest = model.versions.find((v) => v.aliases.includes('latest'));
  const passed = builds.filter((b) => b.smoke?.status === 'passed');
  const build = passed.find((b) => latest && b.imageId === latest.imageId) ?? passed.find((b) => b.project === model.name);
  return build?.smoke?.status === 'passed' ? build.smoke.input : undefined;
}

/** Single-quoted for a POSIX shell: a quote inside becomes '\'' . */
const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function curlSnippet(model: ModelView, sample: Sample | undefined): string {
  const caFile = caFileOf(model);
  const body = sample === undefined ? `'{"inputs": ${NO_SAMPLE}}'` : shellQuote(JSON.stringify({ inputs: sample }));
  const lines = [
    `curl -s${caFile ? ` --cacert ${caFile}` : ''} ${model.endpoints[0].baseUrl}/latest/predict`,
    ...(model.public ? [] : [`  -H "Authorization: Bearer $BERTH_API_KEY"`]),
    `  -H 'Content-Type: application/json'`,
    `  -d ${body}`,
  ];
  return lines.join(' \\\n');
}

/** A JSON value written as a Python literal (true → True, null → None); JSON strings are valid Python strings. */
export function pythonLiteral(value: Sample): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (Array.isArray(value)) return `[${value.map(pythonLiteral).join(', ')}]`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonLiteral(v)}`).join(', ')}}`;
  return JSON.stringify(value);
}

/**
 * Tries each server in turn, moving on when the connection failed or a server that just restarted is still catching
 * up with its group (503 CatchingUp); anything else is the answer. A connection dropped mid-request is also retried
 * elsewhere, which suits predictions (they change nothing).
 */
export function pythonSnippet(model: ModelView, sample: Sample | undefined): string {
  const servers = model.endpoints.map((e) => `    "${e.baseUrl}",`).join('\n');
  const headers = ['"Content-Type": "application/json"', ...(model.public ? [] : [`"Authorization": f"Bearer {os.environ['BERTH_API_KEY']}"`])];
  const caFile = caFileOf(model);
  const verify = caFile ? `\n                verify="${caFile}",  # the group's CA: its gateways' certificates are its own` : '';
  const call = sample === undefined ? 'print(predict(your_input))  # any JSON value your entrypoint accepts' : `print(predict(${pythonLiteral(sample)}))`;
  return `import json, os, requests

SERVERS = [
${servers}
]
HEADERS = {${headers.join(', ')}}

def predict(inputs, path="latest"):
    for base in SERVERS:
        try:
            r = requests.post(
                f"{base}/{path}/predict",
                data=json.dumps({"inputs": inputs}),
                headers=HEADERS,${verify}
                timeout=(3, 30),
            )
        except requests.ConnectionError:
            continue  # this server is down: the next one serves the same versions
        if r.status_code == 503 and r.json().get("error", {}).get("kind") == "CatchingUp":
            continue
        r.raise_for_status()
        return r.json()["predictions"]
    raise RuntimeError("no server of the group answered")

${call}`;
}
