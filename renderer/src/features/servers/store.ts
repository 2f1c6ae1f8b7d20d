import { create } from 'zustand';
import type { BerthError } from '../../../../shared/errors';
import type { AddServer, GroupView, PresentedHostKey, ServerView, SshConfigHost, SwitchKey } from '../../../../shared/servers';
import type { ListenMode, TlsMode } from '../../../../shared/tls';
import { busyAction } from '../../api/busy-action';
import { call } from '../../api/client';

interface ServersState {
  servers: ServerView[];
  groups: GroupView[];
  imported: SshConfigHost[];
  /** Why the last SSH config import offers no host: no file at that path, or no concrete host in it. */
  importNote?: string;
  pendingHostKey?: PresentedHostKey;
  /** What the last switch of login keys means (as whom Berth acts now; whether the root key is still needed). */
  switchMessage?: string;
  /** What forgetting a server did to its groups and replicas, line by line. */
  forgetReport?: string[];
  busy: boolean;
  error?: BerthError;
  load(): Promise<void>;
  probe(host: string, port: number): Promise<void>;
  add(server: AddServer): Promise<boolean>;
  /** Registers this computer (its own Docker engine, no SSH) and its group `local`. */
  addThisComputer(): Promise<void>;
  cancelAdd(): void;
  test(id: number): Promise<void>;
  switchKey(input: SwitchKey): Promise<boolean>;
  remove(id: number): Promise<void>;
  forget(id: number): Promise<void>;
  /** Reads an OpenSSH config file (default ~/.ssh/config) for hosts to fill the form with. */
  importSshConfig(path?: string): Promise<void>;
  createGroup(name: string, replicas: number): Promise<void>;
  setMembers(id: number, serverIds: number[]): Promise<void>;
  removeGroup(id: number): Promise<void>;
  setTls(name: string, tls: TlsMode): Promise<void>;
  setListen(name: string, listen: ListenMode): Promise<void>;
  dismissError(): void;
}

export const useServers = create<ServersState>((set, get) => {
  const act = busyAction(set);
  const replaceServer = (server: ServerView) => set({ servers: get().servers.map((s) => (s.id === server.id ? server : s)) });

  return {
    servers: [],
    groups: [],
    imported: [],
    busy: false,
    load: async () =>
      void (await act(async () => {
        const [servers, groups] = await Promise.all([call('servers.list', {}), call('groups.list', {})]);
        set({ servers, groups });
      })),
    probe: async (host, port) => void (await act(async () => set({ pendingHostKey: await call('servers.probeHostKey', { host, port }) }))),
    add: async (server) =>
      (await act(async () => {
        const added = await call('servers.add', server);
        set({ servers: [...get().servers, added].sort((a, b) => a.name.localeCompare(b.name)), pendingHostKey: undefined });
        return true;
      })) ?? false,
    addThisComputer: async () =>
      void (await act(async () => {
        await call('servers.addLocal', {});
        const [servers, groups] = await Promise.all([call('servers.list', {}), call('groups.list', {})]);
        set({ servers, groups });
      })),
    cancelAdd: () => set({ pendingHostKey: undefined }),
    test: async (id) => void (await act(async () => replaceServer(await call('servers.test', { id })))),
    switchKey: async (input) =>
      (await act(async () => {
        const result = await call('servers.switchKey', input);
        result.servers.forEach(replaceServer);
        set({ switchMessage: result.message });
        return true;
      })) ?? false,
    remove: async (id) => void (await act(async () => set({ servers: await call('servers.remove', { id }) }))),
    forget: async (id) =>
      void (await act(async () => {
        const { servers, report } = await call('servers.forget', { id });
        set({ servers, groups: await call('groups.list', {}), forgetReport: report });
      })),
    importSshConfig: async (path) =>
      void (await act(async () => {
        set({ imported: [], importNote: undefined });
        try {
          const imported = await call('servers.importSshConfig', path ? { path } : {});
          set({ imported, importNote: imported.length ? undefined : `${path ?? '~/.ssh/config'} has no host to import (only wildcard sections such as Host *, or none).` });
        } catch (error) {
          // a missing file is the user's next step (give another path), not a failure for the banner
          if ((error as BerthError).kind !== 'NotFound') throw error;
          set({ importNote: (error as BerthError).message });
        }
      })),
    createGroup: async (name, replicas) =>
      void (await act(async () => {
        await call('groups.create', { name, replicas });
        await get().load();
      })),
    setMembers: async (id, serverIds) =>
      void (await act(async () => {
        await call('groups.update', { id, serverIds });
        await get().load();
      })),
    removeGroup: async (id) => void (await act(async () => set({ groups: await call('groups.remove', { id }) }))),
    setTls: async (name, tls) =>
      void (await act(async () => {
        await call('groups.setTls', { name, tls });
        await get().load();
      })),
    setListen: async (name, listen) =>
      void (await act(async () => {
        await call('groups.setListen', { name, listen });
        await get().load();
      })),
    dismissError: () => set({ error: undefined }),
  };
});
