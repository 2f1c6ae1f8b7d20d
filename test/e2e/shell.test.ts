import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, dropPath, startApp, type RunningApp } from './harness';

describe('app shell in Chromium (web mode)', () => {
  let app: RunningApp;
  beforeAll(async () => {
    buildApp();
    app = await startApp();
  });
  afterAll(async () => app?.close());

  it('shows the Docker engine in the status bar', async () => {
    await expect.poll(() => app.page.textContent('[data-testid=engine-status]'), { timeout: 15_000 }).toMatch(/^Docker \d+\./);
    await expect.poll(() => app.page.textContent('[data-testid=servers-status]')).toMatch(/\d+\/\d+ servers up/);
  });

  it('navigates every page and shows what to do first', async () => {
    const pages = [
      ['Projects', /Drop a notebook project here/],
      ['Servers', /No servers yet/],
      ['Deployments', /Nothing deployed yet/],
      ['Logs', /No logs to follow/],
      ['Access', /No API keys yet/],
      ['Settings', /Base image for model containers/],
    ] as const;
    for (const [label, text] of pages) {
      await app.page.getByRole('button', { name: label, exact: true }).click();
      await expect.poll(() => app.page.textContent('main')).toMatch(text);
      await app.screenshot(`page-${label.toLowerCase()}`);
    }
  });

  it('opens a dropped project folder and lists it as recent', async () => {
    const project = mkdtempSync(join(tmpdir(), 'dropped-project-'));
    writeFileSync(join(project, 'model.ipynb'), '{}');
    await app.page.getByRole('button', { name: 'Projects', exact: true }).click();
    await dropPath(app.page, '[data-testid=dropzone]', project);
    await expect.poll(() => app.page.textContent('[data-testid=current-project]')).toContain(project);
    await expect.poll(() => app.page.textContent('[data-testid=recent-projects]')).toContain(project);
    await app.screenshot('projects-recent');
  });

  it('shows a clear error for a path that does not exist', async () => {
    await dropPath(app.page, '[data-testid=dropzone]', '/nonexistent/project');
    const alert = app.page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toContain('Nothing at /nonexistent/project');
    expect(await alert.getAttribute('data-kind')).toBe('NotFound');
  });

  it('switches to the dark theme and keeps it', async () => {
    await app.page.getByRole('button', { name: 'Settings', exact: true }).click();
    await app.page.getByLabel('Theme').selectOption('dark');
    await expect.poll(() => app.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await app.page.reload();
    await expect.poll(() => app.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await app.page.getByRole('button', { name: 'Projects', exact: true }).click();
    await app.screenshot('projects-dark');
    await app.page.getByRole('button', { name: 'Settings', exact: true }).click();
    await app.page.getByLabel('Theme').selectOption('light');
  });

  it('refuses the RPC socket without the token or from another origin', async () => {
    const port = new URL(app.url).port;
    const outcome = (url: string, headers: Record<string, string> = {}) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('open', () => (ws.close(), resolve('open')));
        ws.on('error', (err) => resolve(err.message));
      });
    expect(await outcome(`ws://127.0.0.1:${port}/rpc?token=wrong`)).toMatch(/401/);
    const token = new URL(app.url).hash.replace('#token=', '');
    expect(await outcome(`ws://127.0.0.1:${port}/rpc?token=${token}`, { origin: 'http://evil.example' })).toMatch(/401/);
    expect(await outcome(`ws://127.0.0.1:${port}/rpc?token=${token}`)).toBe('open');
  });
});
