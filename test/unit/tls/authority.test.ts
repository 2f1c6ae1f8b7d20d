import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer, connect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CERTIFICATE_DAYS,
  createAuthority,
  daysLeft,
  fingerprintOf,
  inspectCertificate,
  issueServerCertificate,
} from '../../../electron/main/services/tls/authority';
import { parseAddresses, tlsCommands } from '../../../electron/main/services/tls/remote';
import { runLocally } from '../support/recording-shell';

const NOW = new Date('2026-12-01T12:00:00Z');

/** A TLS handshake with a local server presenting `certificate`, from a client trusting `ca` (or the system's CAs). */
async function handshake(pair: { certificate: string; privateKey: string }, ca: string | undefined, servername: string): Promise<string | null> {
  const server = createServer({ cert: pair.certificate, key: pair.privateKey }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<string | null>((resolve) => {
      const socket: TLSSocket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, ...(ca ? { ca } : {}) });
      socket.once('secureConnect', () => (socket.destroy(), resolve(null)));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  } finally {
    server.close();
  }
}

describe('the group certificate authority', () => {
  it('issues a 90-day server certificate for the server’s names that a client trusting the CA accepts', async () => {
    const now = new Date();
    const ca = await createAuthority('prod', now);
    const issued = await issueServerCertificate(ca, { name: 'tb1', addresses: ['10.77.8.11', 'tb1.example', 'localhost', '10.77.8.11'] }, now);
    const facts = inspectCertificate(issued.certificate);
    expect(facts.names).toEqual(['10.77.8.11', 'tb1.example', 'localhost']);
    expect(facts.issuedBy(ca.certificate)).toBe(true);
    expect(daysLeft(facts, now)).toBe(CERTIFICATE_DAYS - 1);
    expect(await handshake(issued, ca.certificate, 'localhost')).toBeNull();
    expect(await handshake(issued, undefined, 'localhost')).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i);
    expect(await handshake(issued, ca.certificate, 'other.example')).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('is a CA that signs only server certificates, names its group, and tells its certificates from another group’s', async () => {
    const prod = await createAuthority('prod', NOW);
    const dev = await createAuthority('dev', NOW);
    const authority = new X509Certificate(prod.certificate);
    expect(authority.ca).toBe(true);
    expect(authority.subject).toContain('CN=Berth group prod CA');
    expect(prod.certificate.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(prod.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
    const issued = await issueServerCertificate(prod, { name: 'tb1', addresses: ['10.0.0.1'] }, NOW);
    expect(inspectCertificate(issued.certificate).issuedBy(dev.certificate)).toBe(false);
    expect(new X509Certificate(issued.certificate).ca).toBe(false);
    expect(fingerprintOf(prod.certificate)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintOf(prod.certificate)).not.toBe(fingerprintOf(dev.certificate));
  });
});

describe('server addresses and the install script', () => {
  it('keeps the names and addresses clients can reach a server by', () => {
    const output = 'tb1\ntb1.lab.example\n10.77.8.11 172.17.0.1 fe80::1 ::1 127.0.1.1 2001:db8::5 \n';
    expect(parseAddresses(output)).toEqual(['tb1', 'tb1.lab.example', '10.77.8.11', '172.17.0.1', '2001:db8::5']);
    expect(parseAddresses('localhost\nlocalhost.localdomain\n')).toEqual([]);
  });

  it('writes the key from stdin and the certificates into a root-only folder, key never on the command line', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'berth-tls-')), 'gateway', 'tls');
    const key = '-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n';
    const install = tlsCommands.install(dir, "-----BEGIN CERTIFICATE-----\nCERT'$(id)\n-----END CERTIFICATE-----\n", 'CA PEM\n');
    expect(String(install)).not.toContain('SECRET');
    expect(await runLocally(String(install), key)).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'key.pem'), 'utf8')).toBe(key);
    expect(readFileSync(join(dir, 'cert.pem'), 'utf8')).toBe("-----BEGIN CERTIFICATE-----\nCERT'$(id)\n-----END CERTIFICATE-----\n");
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe('CA PEM\n');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of ['key.pem', 'cert.pem', 'ca.pem']) expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect((await runLocally(String(tlsCommands.readCertificate(dir)))).stdout).toContain("CERT'$(id)");
    expect((await runLocally(String(tlsCommands.readCertificate(join(dir, 'none'))))).stdout).toBe('');
  });
});
