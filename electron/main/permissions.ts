import { pathToFileURL } from 'node:url';

/** Where the app's own page comes from: the dev server in `electron-vite dev`, else the built file. */
export interface AppPage {
  devServerUrl: string | null;
  file: string;
}

/** What the app's pages use: writing text to the clipboard (the one-time API key's Copy button). */
const APP_PAGE_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

/** A permission is granted only to the app's own page and only if it uses it; camera, notifications, any other origin: denied. */
export function permissionAllowed(permission: string, requestingUrl: string | undefined, page: AppPage): boolean {
  return APP_PAGE_PERMISSIONS.has(permission) && requestingUrl !== undefined && isAppPage(requestingUrl, page);
}

function isAppPage(url: string, page: AppPage): boolean {
  if (!URL.canParse(url)) return false;
  const requesting = new URL(url);
  if (page.devServerUrl) return requesting.origin === new URL(page.devServerUrl).origin;
  // a file:// URL has no origin of its own: the page is this very file, whatever route its hash shows
  requesting.hash = '';
  requesting.search = '';
  return requesting.href === pathToFileURL(page.file).href;
}
