/**
 * The remote commands of a server's gateway certificate (docs/ARCHITECTURE.md, "HTTPS at the gateway"). They are an
 * admin's: they read and write root-only files, so they carry no berth-shell verb.
 */
import { isIP } from 'node:net';
import { script } from '../remote/command';

/** What the server calls itself: its host names and the addresses of its interfaces (each may be missing). */
const ADDRESSES = 'hostname 2>/dev/null; hostname -f 2>/dev/null; hostname -I 2>/dev/null; true';

/** The certificate in $1, or nothing when there is none. */
const READ_CERTIFICATE = 'cat "$1/cert.pem" 2>/dev/null || true';

/**
 * Installs the key (stdin), the certificate ($2) and the group CA ($3) in the root-only folder $1, through a
 * temporary folder beside them; the certificate moves last, so the gateway, which loads the pair when either file
 * changes and keeps the previous pair when they do not match, switches to the new pair in one step.
 */
const INSTALL =
  'umask 077 && mkdir -p "$1" && chmod 700 "$1" && tmp=$(mktemp -d "$1/.new.XXXXXX") || exit 1; ' +
  '{ cat > "$tmp/key.pem" && printf "%s" "$2" > "$tmp/cert.pem" && printf "%s" "$3" > "$tmp/ca.pem" && ' +
  'mv -f "$tmp/ca.pem" "$1/ca.pem" && mv -f "$tmp/key.pem" "$1/key.pem" && mv -f "$tmp/cert.pem" "$1/cert.pem"; }; ' +
  'status=$?; rm -rf "$tmp"; exit $status';

export const tlsCommands = {
  addresses: () => script(ADDRESSES),
  readCertificate: (dir: string) => script(READ_CERTIFICATE, dir),
  install: (dir: string, certificate: string, authority: string) => script(INSTALL, dir, certificate, authority),
};

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * The names and addresses in the output of `addresses`, lowercased, without loopback and link-local ones (no client
 * reaches a server by them) and without a bare `localhost`.
 */
export function parseAddresses(output: string): string[] {
  const words = output.toLowerCase().split(/\s+/).filter(Boolean);
  const usable = words.filter((w) => (isIP(w) ? !/^(127\.|::1$|fe80:)/.test(w) : DNS_NAME.test(w) && w !== 'localhost' && !w.endsWith('.localdomain')));
  return [...new Set(usable)];
}
