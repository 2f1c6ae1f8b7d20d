import { create } from 'zustand';
import type {
  AddMember,
  ApiKeyView,
  AuditEntryView,
  AuditFilter,
  AuditVerification,
  CreateKey,
  LocksReport,
  MemberView,
  ModelAccessView,
  PublishReport,
  PushReport,
  Role,
} from '../../../../shared/access';
import type { BerthError } from '../../../../shared/errors';
import { busyAction } from '../../api/busy-action';
import { call } from '../../api/client';

export type AccessTab = 'keys' | 'team' | 'audit' | 'locks';

interface AccessState {
  tab: AccessTab;
  keys: ApiKeyView[];
  models: ModelAccessView[];
  members: MemberView[];
  audit: AuditEntryView[];
  auditFilter: AuditFilter;
  verification?: AuditVerification;
  locks?: LocksReport;
  /** The secret of the key just created: shown once, dropped when dismissed. */
  revealed?: { id: string; name: string; secret: string };
  /** The last routes.json publish (key or public-flag change) and team push, per server. */
  publish?: PublishReport;
  push?: PushReport;
  busy: boolean;
  verifying: boolean;
  error?: BerthError;
  setTab(tab: AccessTab): void;
  loadKeys(): Promise<void>;
  createKey(input: CreateKey): Promise<boolean>;
  dismissSecret(): void;
  revokeKey(id: string): Promise<void>;
  setPublic(model: string, isPublic: boolean): Promise<void>;
  loadTeam(): Promise<void>;
  addMember(input: AddMember): Promise<boolean>;
  /** A deployer's `models` limit them to those models (null: every model). */
  setRole(id: string, role: Role, models?: string[] | null): Promise<void>;
  removeMember(id: string, withOwned?: boolean): Promise<void>;
  pushAgain(): Promise<void>;
  loadAudit(filter?: AuditFilter): Promise<void>;
  verify(): Promise<void>;
  loadLocks(): Promise<void>;
  breakLock(model: string): Promise<void>;
  dismissError(): void;
}

export const useAccess = create<AccessState>((set, get) => {
  const act = busyAction(set);
  const refreshKeys = async () => {
    const [keys, models] = await Promise.all([call('access.keys', {}), call('access.models', {})]);
    set({ keys, models });
  };

  return {
    tab: 'keys',
    keys: [],
    models: [],
    members: [],
    audit: [],
    auditFilter: {},
    busy: false,
    verifying: false,
    setTab: (tab) => set({ tab }),
    loadKeys: async () => void (await act(refreshKeys)),
    createKey: async (input) =>
      (await act(async () => {
        const created = await call('access.createKey', input);
        set({ revealed: { id: created.key.id, name: created.key.name, secret: created.secret }, publish: created.publish });
        await refreshKeys();
        return true;
      })) ?? false,
    dismissSecret: () => set({ revealed: undefined }),
    revokeKey: async (id) =>
      void (await act(async () => {
        const { publish } = await call('access.revokeKey', { id });
        set({ publish });
        await refreshKeys();
      })),
    setPublic: async (model, isPublic) =>
      void (await act(async () => {
        const { publish } = await call('access.setPublic', { model, public: isPublic });
        set({ publish });
        await refreshKeys();
      })),
    loadTeam: async () => void (await act(async () => set({ members: await call('access.members', {}) }))),
    addMember: async (input) =>
      (await act(async () => {
        const { members, push } = await call('access.addMember', input);
        set({ members, push });
        return true;
      })) ?? false,
    setRole: async (id, role, models = null) =>
      void (await act(async () => {
        const { members, push } = await call('access.setRole', { id, role, models });
        set({ members, push });
      })),
    removeMember: async (id, withOwned = false) =>
      void (await act(async () => {
        const { members, push } = await call('access.removeMember', { id, withOwned });
        set({ members, push });
      })),
    pushAgain: async () => void (await act(async () => set({ push: await call('access.push', {}) }))),
    loadAudit: async (filter) =>
      void (await act(async () => {
        const auditFilter = filter ?? get().auditFilter;
        set({ auditFilter, audit: await call('audit.list', auditFilter) });
      })),
    verify: async () => {
      set({ verifying: true, error: undefined });
      try {
        set({ verification: await call('audit.verify', {}) });
      } catch (error) {
        set({ error: error as BerthError });
      } finally {
        set({ verifying: false });
      }
    },
    loadLocks: async () => void (await act(async () => set({ locks: await call('access.locks', {}) }))),
    breakLock: async (model) =>
      void (await act(async () => {
        await call('access.breakLock', { model });
        set({ locks: await call('access.locks', {}) });
      })),
    dismissError: () => set({ error: undefined }),
  };
});
