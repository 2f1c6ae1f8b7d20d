import { BrowserWindow, shell } from 'electron';
import { join } from 'node:path';

/** The renderer's own origin: the dev server in `electron-vite dev`, else the built file. */
export const rendererUrl = process.env.ELECTRON_RENDERER_URL ?? null;
export const rendererFile = join(__dirname, '../renderer/index.html');

export function createMainWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Berth',
    webPreferences: {
      preload: join(__dirname, '../preload/index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  window.once('ready-to-show', () => window.show());

  // Links open in the user's browser; the app window never navigates away or opens new windows.
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  window.webContents.on('will-navigate', (event) => event.preventDefault());

  if (rendererUrl) void window.loadURL(rendererUrl);
  else void window.loadFile(rendererFile);
  return window;
}
