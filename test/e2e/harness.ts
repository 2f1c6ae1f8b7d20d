import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openDatabase } from '../../electron/main/services/store/database';
import { createSettingsRepo } from '../../electron/main/services/store/settings';

export const repoRoot = resolve(__dirname, '../..');
/**
 * Where screenshots go: test-output/screenshots/ (git-ignored) when tests run, or BERTH_SCREENSHOT_DIR, which
 * `npm run screenshots` sets to docs/screenshots/ to refresh the README's pictures.
 */
export const screenshotDirFor = (env: NodeJS.ProcessEnv) => resolve(repoRoot, env.BERTH_SCREENSHOT_DIR ?? 'test-output/screenshots');
const screenshotDir = screenshotDirFor(process.env);

/** Builds the app once per test file, so the browser tests always run the current renderer and services. */
export function buildApp(): void {
  execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'pipe' });
}

export interface RunningApp {
  url: string;
  home: string;
  page: Page;
  browser: Browser;
  server: ChildProcess;
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The gateway (and berth-shell, which comes out of its image) is built from the local Go image: nothing can be pulled
 * here. The first-run checklist is dismissed unless the test is about it, so other pages' screenshots show the page.
 */
function prepareFolder(home: string, checklist: boolean): void {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    createSettingsRepo(db).update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm', ...(checklist ? {} : { checklistDismissed: true }) });
  } finally {
    db.close();
  }
}

/** Starts `web` mode on a data folder (a fresh one unless given) and opens it in Debian's Chromium. */
export async function startApp(env: NodeJS.ProcessEnv = {}, home = mkdtempSync(join(tmpdir(), 'berth-e2e-')), options: { checklist?: boolean } = {}): Promise<RunningApp> {
  prepareFolder(home, options.checklist ?? false);
  const server = spawn(process.execPath, [join(repoRoot, 'out/main/web.js')], {
    env: { ...process.env, BERTH_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Everything web mode prints, so a page that loses its server can say why the server went away.
  let output = '';
  let exited: string | null = null;
  server.once('exit', (code, signal) => (exited = signal ?? String(code)));
  server.stdout!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  server.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`web mode did not start in 20 s:\n${output}`)), 20_000);
    const onData = () => {
      const match = /Open (http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.once('exit', (code) => reject(new Error(`web mode exited with ${code}:\n${output}`)));
  });

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const consoleErrors: string[] = [];
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
  await page.goto(url);
  mkdirSync(screenshotDir, { recursive: true });

  return {
    url,
    home,
    page,
    browser,
    server,
    async screenshot(name) {
      // The app scrolls inside its main pane; let it grow for the picture so everything on the page is in it.
      await page.evaluate(() => document.documentElement.classList.add('full-height-capture'));
      await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
      await page.evaluate(() => document.documentElement.classList.remove('full-height-capture'));
    },
    async close() {
      await browser.close();
      const died = exited;
      server.kill('SIGTERM');
      if (died !== null) throw new Error(`web mode exited (${died}) before the test closed it:\n${output.slice(-4000)}`);
      if (consoleErrors.length) throw new Error(`The page logged errors:\n${consoleErrors.join('\n')}`);
    },
  };
}

/** The web transport's equivalent of dropping a folder: a drop event whose data is the folder's path. */
export async function dropPath(page: Page, selector: string, path: string): Promise<void> {
  const dataTransfer = await page.evaluateHandle((p) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', p);
    return dt;
  }, path);
  await page.dispatchEvent(selector, 'dragover', { dataTransfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}
