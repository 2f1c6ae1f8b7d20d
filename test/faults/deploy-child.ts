/**
 * A Berth process that deploys and gets SIGKILLed mid-way (fault suite: "Berth killed mid-deploy").
 *   node --require tsx/cjs --require ./bench/raw-hook.cjs test/faults/deploy-child.ts <home> <model> <imageRef>
 * Prints every deploy event as one JSON line. With KILL_AT_JOURNAL=<phase>, it SIGKILLs itself right after the
 * operation journal reaches that phase in SQLite (a deterministic point: the journal row is what `recover()` reads);
 * otherwise the parent kills it when it sees what it waits for. With HOLD_ROUTES_ON=<server>, installing the derived
 * routes.json on that server waits 120 s, so the parent can kill Berth while the other gateways are switched and that
 * one is not (the revision itself is already on every server).
 */
import { createBerth } from '../../electron/main/app';

const [home, model, imageRef] = process.argv.slice(2);
const killAt = process.env.KILL_AT_JOURNAL;
const berth = createBerth({ home, mode: 'cli', version: 'faults-child' });
const store = berth.services.deployStore;
const holdOn = process.env.HOLD_ROUTES_ON;
if (holdOn) {
  const servers = berth.services.servers;
  const connect = servers.connection;
  const holdId = berth.services.registry.list().find((s) => s.name === holdOn)!.id;
  servers.connection = async (id, ...rest) => {
    const ssh = await connect(id, ...rest);
    if (id !== holdId) return ssh;
    return new Proxy(ssh, {
      get(target, prop) {
        if (prop === 'run' || prop === 'exec') {
          return async (command: unknown, options?: object) => {
            if (String(command).includes('.routes.json.')) await new Promise((r) => setTimeout(r, 120_000));
            return prop === 'run' ? target.run(String(command), options) : target.exec(String(command), options);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
}
const save = store.journal;
store.journal = (operationId: number, journal: unknown) => {
  save(operationId, journal);
  if (killAt && (journal as { phase?: string }).phase === killAt) {
    process.stdout.write(`${JSON.stringify({ type: 'killing', phase: killAt, journal })}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
};
berth.services.orchestrator
  .deploy({ model, imageRef, group: 'prod', replicas: 2, memoryMb: 256, readyTimeoutMs: 60_000 }, (event) => process.stdout.write(`${JSON.stringify(event)}\n`))
  .then(
    (version) => {
      process.stdout.write(`${JSON.stringify({ type: 'finished', version: version.number })}\n`);
      berth.close();
    },
    (err) => {
      process.stdout.write(`${JSON.stringify({ type: 'failed', message: String(err?.message ?? err) })}\n`);
      berth.close();
      process.exitCode = 1;
    },
  );
