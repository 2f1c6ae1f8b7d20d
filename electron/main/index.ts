/** Electron entry: one window over the same services the web mode and CLI use. */
import { app, dialog } from 'electron';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createBerth, resolveHome } from './app';
import { registerIpc } from './ipc';
import { hardenSessions } from './security';
import { desktopNotifier } from './notifications';
import { legacySafeStorageCipher } from './safe-storage';
import { createMainWindow } from './window';

if (!app.requestSingleInstanceLock()) app.quit();

/** Before the app and the CLI shared one data folder, the app kept its data in Electron's userData: move it there once. */
function sharedHome(): string {
  const home = resolveHome();
  const previous = app.getPath('userData');
  if (previous !== home && existsSync(join(previous, 'berth.db')) && !existsSync(join(home, 'berth.db'))) {
    mkdirSync(dirname(home), { recursive: true });
    renameSync(previous, home);
  }
  return home;
}

/** The data folder, or null (the app quits) when another Berth, e.g. web mode, has it open. */
function openBerth() {
  try {
    return createBerth({ home: sharedHome(), mode: 'electron', version: app.getVersion(), legacyCiphers: legacySafeStorageCipher() });
  } catch (err) {
    dialog.showErrorBox('Berth cannot open its data folder', err instanceof Error ? err.message : String(err));
    app.quit();
    return null;
  }
}

app.whenReady().then(() => {
  hardenSessions();
  const berth = openBerth();
  if (!berth) return;
  berth.services.observability.alerts.addNotifier(desktopNotifier());
  const window = createMainWindow();
  registerIpc(berth.dispatcher, window);

  app.on('second-instance', () => {
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('window-all-closed', () => {
    berth.close();
    app.quit();
  });
});
