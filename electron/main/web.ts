/** `npm run web`: the same services and UI as the desktop app, served to a browser on loopback. */
import { join } from 'node:path';
import { createBerth, resolveHome } from './app';
import { startWebServer } from './web/server';
import { version } from '../../package.json';

async function main(): Promise<void> {
  const home = resolveHome();
  const berth = createBerth({ home, mode: 'web', version });
  const port = process.env.BERTH_WEB_PORT ? Number(process.env.BERTH_WEB_PORT) : 0;
  const server = await startWebServer({
    dispatcher: berth.dispatcher,
    staticDir: join(__dirname, '../renderer'),
    port,
    token: process.env.BERTH_WEB_TOKEN,
  });
  console.log(`Berth web mode (data: ${home})`);
  console.log(`Open ${server.url}`);
  const stop = async () => {
    await server.close();
    berth.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
