import { createHash } from 'node:crypto';
import type { Plugin } from 'vite';

const CSP_META = /(<meta\s+http-equiv="Content-Security-Policy"\s+content=")([^"]*)(")/;
const INLINE_SCRIPT = /<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g;

/** renderer/index.html's policy: production's, strict (no inline script, nothing from elsewhere). */
export function pagePolicy(html: string): string {
  const meta = CSP_META.exec(html);
  if (!meta) throw new Error('renderer/index.html has no Content-Security-Policy meta tag');
  return meta[2];
}

/**
 * The dev server's page carries inline scripts of its own (React's refresh preamble): the dev policy is production's
 * with exactly those scripts allowed, by their hashes, and no others.
 */
export function devPolicy(productionPolicy: string, html: string): string {
  const hashes = [...html.matchAll(INLINE_SCRIPT)].map(([, code]) => `'sha256-${createHash('sha256').update(code).digest('base64')}'`);
  return productionPolicy
    .split(';')
    .map((directive) => directive.trim())
    .map((directive) => (directive.split(/\s+/)[0] === 'script-src' ? [directive, ...hashes].join(' ') : directive))
    .join('; ');
}

/** `electron-vite dev` only: the page gets the dev policy; a build keeps index.html's production policy untouched. */
export function devContentSecurityPolicy(): Plugin {
  return {
    name: 'berth:dev-content-security-policy',
    apply: 'serve',
    transformIndexHtml: {
      order: 'post',
      handler: (html) => html.replace(CSP_META, (_meta, start: string, policy: string, end: string) => `${start}${devPolicy(policy, html)}${end}`),
    },
  };
}
