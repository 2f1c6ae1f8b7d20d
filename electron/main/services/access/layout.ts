import { BERTH_DIR } from '../deploy/naming';

/**
 * Where Berth's access machinery lives on a server. The defaults are the real layout (docs/ARCHITECTURE.md); tests
 * point them at a folder of their own so concurrent runs on the same servers do not share an audit file.
 */
export interface ServerLayout {
  /** Berth's state: audit/, lock/, gateway/ below it. */
  berthDir: string;
  /** berth-shell and berth-audit-append. */
  libDir: string;
  /** The login account's authorized_keys, relative to its home unless absolute. */
  authorizedKeys: string;
}

export const defaultLayout: ServerLayout = {
  berthDir: BERTH_DIR,
  libDir: '/usr/local/lib/berth',
  authorizedKeys: '.ssh/authorized_keys',
};

const safePath = /^\/[A-Za-z0-9._/-]+$/;

/** Paths end up in shell commands and in authorized_keys `command=`: only plain absolute paths are accepted. */
export function checkLayout(layout: ServerLayout): ServerLayout {
  for (const [name, value] of Object.entries({ berthDir: layout.berthDir, libDir: layout.libDir })) {
    if (!safePath.test(value) || value.includes('..')) throw new Error(`Server layout ${name} "${value}" must be a plain absolute path`);
  }
  if (!/^[A-Za-z0-9._/-]+$/.test(layout.authorizedKeys) || layout.authorizedKeys.includes('..')) {
    throw new Error(`Server layout authorizedKeys "${layout.authorizedKeys}" must be a plain path`);
  }
  return layout;
}

/** The authorized_keys path as a shell word: "$HOME/…" when relative, so it follows the login account. */
export const authorizedKeysWord = (layout: ServerLayout) =>
  layout.authorizedKeys.startsWith('/') ? layout.authorizedKeys : `"$HOME"/${layout.authorizedKeys}`;

/** Layout overrides from the environment (BERTH_REMOTE_DIR, BERTH_REMOTE_LIB), for tests. */
export function layoutFromEnv(env: NodeJS.ProcessEnv = process.env): ServerLayout {
  return checkLayout({
    ...defaultLayout,
    ...(env.BERTH_REMOTE_DIR ? { berthDir: env.BERTH_REMOTE_DIR } : {}),
    ...(env.BERTH_REMOTE_LIB ? { libDir: env.BERTH_REMOTE_LIB } : {}),
  });
}
