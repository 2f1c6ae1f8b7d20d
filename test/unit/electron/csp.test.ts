import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import react from '@vitejs/plugin-react';
import { createServer } from 'vite';
import { describe, expect, it } from 'vitest';
import { devContentSecurityPolicy, pagePolicy } from '../../../renderer/dev-csp';

const rendererRoot = join(__dirname, '../../../renderer');
const indexHtml = readFileSync(join(rendererRoot, 'index.html'), 'utf8');

const directives = (policy: string) => new Map(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
const inlineScripts = (html: string) => [...html.matchAll(/<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(([, code]) => code);
const hashOf = (code: string) => `'sha256-${createHash('sha256').update(code).digest('base64')}'`;

/** The page `electron-vite dev` serves: index.html through the renderer's plugins on a Vite dev server. */
async function devPage(): Promise<string> {
  const server = await createServer({
    configFile: false,
    root: rendererRoot,
    plugins: [react(), devContentSecurityPolicy()],
    // only the page is wanted: no file watching, no scan of the sources (which others may be editing)
    server: { middlewareMode: true, ws: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
    logLevel: 'silent',
  });
  try {
    return await server.transformIndexHtml('/', indexHtml);
  } finally {
    await server.close();
  }
}

describe('Content-Security-Policy', () => {
  it('is strict in production: scripts from the app only, nothing inline, nothing from elsewhere', () => {
    const production = directives(pagePolicy(indexHtml));
    expect(production.get('script-src')).toEqual(["'self'"]);
    expect(production.get('default-src')).toEqual(["'self'"]);
    expect(production.get('connect-src')).toEqual(["'self'"]);
    expect(production.get('object-src')).toEqual(["'none'"]);
    expect(production.get('base-uri')).toEqual(["'none'"]);
    expect(devContentSecurityPolicy().apply).toBe('serve'); // a build never rewrites it
  });

  it("allows the dev server's inline scripts (React's refresh preamble) by their hashes, and nothing else", async () => {
    const page = await devPage();
    const scripts = inlineScripts(page);
    expect(scripts.some((code) => code.includes('injectIntoGlobalHook'))).toBe(true);
    const dev = directives(pagePolicy(page));
    expect(dev.get('script-src')).toEqual(["'self'", ...scripts.map(hashOf)]);
    const production = directives(pagePolicy(indexHtml));
    for (const [name, values] of production) if (name !== 'script-src') expect(dev.get(name), name).toEqual(values);
  });
});
