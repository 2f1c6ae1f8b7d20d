#!/usr/bin/env node
// better-sqlite3 is a native module: Electron and Node need it built for different ABIs.
// `npm start` builds it for Electron, `npm test`/`npm run web` for Node; a marker file avoids needless rebuilds.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const target = process.argv[2];
if (target !== 'node' && target !== 'electron') {
  console.error('usage: native-abi.mjs node|electron');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const marker = 'node_modules/better-sqlite3/.berth-abi';
const wanted = target === 'node' ? `node-${process.versions.modules}` : `electron-${require('electron/package.json').version}`;
const current = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;

const loadsInNode = () =>
  spawnSync(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], { stdio: 'ignore' }).status === 0;

if (current !== wanted && !(target === 'node' && current === undefined && loadsInNode())) {
  console.log(`Rebuilding better-sqlite3 for ${wanted}…`);
  if (target === 'node') execFileSync('npm', ['rebuild', 'better-sqlite3'], { stdio: 'inherit' });
  else execFileSync('npx', ['electron-rebuild', '--force', '--only', 'better-sqlite3'], { stdio: 'inherit' });
}
writeFileSync(marker, wanted);
