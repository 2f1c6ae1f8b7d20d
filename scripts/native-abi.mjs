#!/usr/bin/env node
// better-sqlite3 is a native module: Electron and Node need it built for different ABIs. The package keeps the
// Node build (CLI, web, tests); `npm start` builds Electron's into a file of its own, which the app loads with
// better-sqlite3's `nativeBinding` option (electron/main/services/store/database.ts), so `berth` always runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const target = process.argv[2];
if (target !== 'node' && target !== 'electron') {
  console.error('usage: native-abi.mjs node|electron');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const sqliteDir = dirname(require.resolve('better-sqlite3/package.json'));
const sqliteVersion = require('better-sqlite3/package.json').version;

if (target === 'node') ensureNodeBuild();
else await ensureElectronBuild(require('electron/package.json').version);

/** The package's own build must load in Node; an older Berth rebuilt it for Electron in place. */
function ensureNodeBuild() {
  const loads = spawnSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { stdio: 'ignore' }).status === 0;
  if (loads) return;
  console.log(`Rebuilding better-sqlite3 for Node ${process.version}…`);
  execFileSync('npm', ['rebuild', 'better-sqlite3'], { stdio: 'inherit' });
}

/** Builds a copy of the package for Electron, once per version pair, and keeps only its addon. */
async function ensureElectronBuild(electronVersion) {
  // Keep in step with nativeBinding() in electron/main/services/store/database.ts.
  const dir = join(dirname(sqliteDir), '.berth-native', `better-sqlite3-${sqliteVersion}-electron-${electronVersion}`);
  const addon = join(dir, 'better_sqlite3.node');
  if (existsSync(addon)) return;
  console.log(`Building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (the Node build stays as it is)…`);
  // Inside node_modules, so the copy still finds prebuild-install; the copy is its own project root, so only it is built.
  const work = `${dir}.work`;
  rmSync(work, { recursive: true, force: true });
  try {
    cpSync(sqliteDir, join(work, 'node_modules', 'better-sqlite3'), { recursive: true, filter: (src) => src !== join(sqliteDir, 'build') });
    writeFileSync(join(work, 'package.json'), JSON.stringify({ private: true, dependencies: { 'better-sqlite3': sqliteVersion } }));
    const { rebuild } = await import('@electron/rebuild');
    await rebuild({ buildPath: work, projectRootPath: work, electronVersion, onlyModules: ['better-sqlite3'], force: true });
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'), addon);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
