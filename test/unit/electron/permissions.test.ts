import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { permissionAllowed } from '../../../electron/main/permissions';

const built = { devServerUrl: null, file: '/opt/Berth/resources/app/out/renderer/index.html' };
const dev = { devServerUrl: 'http://localhost:5173/', file: built.file };
const builtPage = `${pathToFileURL(built.file).href}#/access`;

describe('Electron permissions', () => {
  it("lets the app's own page write to the clipboard (the API key's Copy button)", () => {
    expect(permissionAllowed('clipboard-sanitized-write', builtPage, built)).toBe(true);
    expect(permissionAllowed('clipboard-sanitized-write', 'http://localhost:5173/#/access', dev)).toBe(true);
  });

  it('denies every other page the clipboard', () => {
    for (const url of ['https://evil.example/', 'file:///tmp/index.html', 'http://localhost:5174/', undefined, 'not a url']) {
      expect(permissionAllowed('clipboard-sanitized-write', url, built), String(url)).toBe(false);
      expect(permissionAllowed('clipboard-sanitized-write', url, dev), String(url)).toBe(false);
    }
    expect(permissionAllowed('clipboard-sanitized-write', builtPage, dev)).toBe(false);
  });

  it('denies the app itself every permission it does not use', () => {
    for (const permission of ['clipboard-read', 'notifications', 'media', 'geolocation', 'openExternal', 'fileSystem', 'unknown']) {
      expect(permissionAllowed(permission, builtPage, built), permission).toBe(false);
    }
  });
});
