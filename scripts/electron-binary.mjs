#!/usr/bin/env node
// `npm start` and `npm run dev` need Electron's binary, which the electron package downloads when it is installed.
// Installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or after a failed download, `require('electron')` only throws an
// opaque error; this says what happened and what to do instead, before anything is built.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What is wrong with the electron package in `packageDir` (its index.js resolves `dist/<path.txt>`), or null when
 * its binary is there.
 */
export function electronBinaryProblem(packageDir) {
  const pathFile = join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) return `Electron's binary is missing: ${pathFile} does not exist.`;
  const binary = join(packageDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(binary)) return `Electron's binary is missing: ${binary} does not exist.`;
  return null;
}

export function missingBinaryMessage(problem) {
  return [
    problem,
    'Electron was installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or its download failed.',
    'Run `npm run web` for the same UI in a browser, or reinstall Electron: `node node_modules/electron/install.js` (or `npm rebuild electron`).',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // ELECTRON_OVERRIDE_DIST_PATH points the electron package at a binary elsewhere; then there is nothing to check.
  if (!process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const packageDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
    const problem = electronBinaryProblem(packageDir);
    if (problem) {
      console.error(missingBinaryMessage(problem));
      process.exit(1);
    }
  }
}
