import { session } from 'electron';

/** Berth needs no camera, notifications prompts, geolocation etc.: every permission request is denied. */
export function hardenSessions(): void {
  session.defaultSession.setPermissionRequestHandler((_webContents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
}
