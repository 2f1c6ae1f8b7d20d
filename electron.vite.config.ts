import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';
import { devContentSecurityPolicy } from './renderer/dev-csp';

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        // The Electron entry, plus the same services as a web server and a CLI that never load Electron.
        input: {
          index: resolve(__dirname, 'electron/main/index.ts'),
          web: resolve(__dirname, 'electron/main/web.ts'),
          cli: resolve(__dirname, 'electron/main/cli.ts'),
          // The inference search's worker thread (services/logs/search-thread.ts finds it beside the entries).
          'search-worker': resolve(__dirname, 'electron/main/services/logs/search-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      rollupOptions: { input: { index: resolve(__dirname, 'electron/preload/index.ts') } },
    },
  },
  renderer: {
    root: resolve(__dirname, 'renderer'),
    // index.html holds production's strict policy; the dev server's page gets its own (renderer/dev-csp.ts)
    plugins: [react(), devContentSecurityPolicy()],
    build: {
      rollupOptions: { input: resolve(__dirname, 'renderer/index.html') },
    },
  },
});
