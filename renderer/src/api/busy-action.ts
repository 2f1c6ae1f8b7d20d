import type { BerthError } from '../../../shared/errors';

/** The part of a feature store a busy action drives: a busy flag and the error banner. */
interface BusyState {
  busy: boolean;
  error?: BerthError;
}

/**
 * Makes a store's `act(action)`: sets busy while it runs, clears the previous error, and turns a failure into the
 * store's error (the banner shows its kind and message) instead of an unhandled rejection.
 */
export function busyAction(set: (partial: Partial<BusyState>) => void) {
  return async function act<T>(action: () => Promise<T>): Promise<T | undefined> {
    set({ busy: true, error: undefined });
    try {
      return await action();
    } catch (error) {
      set({ error: error as BerthError });
      return undefined;
    } finally {
      set({ busy: false });
    }
  };
}
