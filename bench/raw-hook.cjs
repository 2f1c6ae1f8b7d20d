// Lets plain Node (through tsx) load the services: Vite's `import text from './file?raw'` becomes a module whose
// default export is the file's text, as electron-vite builds it. Used by the bench runner and the fault suite's child
// processes, which run the TypeScript sources without a Vite build.
const Module = require('node:module');
const { readFileSync } = require('node:fs');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (typeof request !== 'string' || !request.endsWith('?raw')) return resolve.call(this, request, parent, ...rest);
  const file = resolve.call(this, request.slice(0, -4), parent, ...rest);
  const key = `${file}?raw`;
  if (!Module._cache[key]) {
    const m = new Module(key, parent);
    m.filename = key;
    m.loaded = true;
    m.exports = { __esModule: true, default: readFileSync(file, 'utf8') };
    Module._cache[key] = m;
  }
  return key;
};
