import type { BerthError } from '../../../shared/errors';

export function ErrorBanner({ error, onDismiss }: { error?: BerthError | null; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div className="error-banner" role="alert" data-kind={error.kind}>
      <strong>{error.kind}</strong> {error.message}
      {onDismiss && (
        <button className="link" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}
