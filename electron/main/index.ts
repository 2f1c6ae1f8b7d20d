/** Electron entry: one window over the same services the web mode and CLI use. */
import { app } from 'electron';
import { createBerth, resolveHome } from './app';
import { registerIpc } from './ipc';
import { hardenSessions } from './security';
import { desktopNotifier } from './notifications';
import { createSafeStorageCipher } from './safe-storage';
import { createMainWindow } from './window';

if (!app.requestSingleInstanceLock()) app.quit();

app.whenReady().then(() => {
  hardenSessions();
  const berth = createBerth({
    home: resolveHome(process.env, app.getPath('userData')),
    mode: 'electron',
    version: app.getVersion(),
    cipher: createSafeStorageCipher(),
  });
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
