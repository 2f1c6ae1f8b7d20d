// Lets the require hook load packages that export for `import` only (canonicalize): resolves them to their file, which
// Node (>= 20.19) then loads with require(esm). Used beside raw-hook.cjs by bench scripts run with tsx/cjs.
const Module = require('node:module');
const path = require('node:path');

const IMPORT_ONLY = new Set(['canonicalize']);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (!IMPORT_ONLY.has(request)) return resolve.call(this, request, parent, ...rest);
  for (const dir of Module._nodeModulePaths(parent?.path ?? process.cwd())) {
    const manifest = path.join(dir, request, 'package.json');
    try {
      return path.join(dir, request, require(manifest).exports['.'].import);
    } catch {
      // not in this node_modules
    }
  }
  return resolve.call(this, request, parent, ...rest);
};
