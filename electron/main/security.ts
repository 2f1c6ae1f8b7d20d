import { session } from 'electron';
import { permissionAllowed } from './permissions';
import { rendererFile, rendererUrl } from './window';

const appPage = { devServerUrl: rendererUrl, file: rendererFile };

/** Berth's pages need only the clipboard (see permissions.ts): every other permission request and check is denied. */
export function hardenSessions(): void {
  session.defaultSession.setPermissionRequestHandler((_webContents, permission, callback, details) =>
    callback(permissionAllowed(permission, details.requestingUrl, appPage)),
  );
  session.defaultSession.setPermissionCheckHandler((_webContents, permission, _origin, details) => permissionAllowed(permission, details.requestingUrl, appPage));
}
