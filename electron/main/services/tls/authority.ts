/**
 * The group certificate authority and the server certificates it issues (docs/ARCHITECTURE.md, "HTTPS at the
 * gateway"): X.509 by @peculiar/x509 over Node's WebCrypto, read back with Node's own X509Certificate. ECDSA P-256
 * throughout: small, fast to make, and what every TLS client and Go's crypto/tls accept.
 */
// @peculiar/x509 finds its ASN.1 services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

const provider = webcrypto as unknown as Crypto;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** A server certificate lasts 90 days and is renewed when fewer than 30 remain, so a missed pass or two is harmless. */
export const CERTIFICATE_DAYS = 90;
export const RENEW_WITHIN_DAYS = 30;
/** The CA outlives every certificate it issues; replacing it means every client fetches it again. */
const AUTHORITY_DAYS = 3650;
/** Clocks of clients and the admin's laptop differ a little: a certificate is valid from an hour before it was made. */
const CLOCK_SKEW_MS = 3_600_000;

/** A certificate and its private key, both PEM (PKCS #8 for the key). */
export interface KeyPairPem {
  certificate: string;
  privateKey: string;
}

/** What a server's certificate names: the address Berth reaches it by, and the names and addresses it has. */
export interface ServerIdentity {
  name: string;
  addresses: string[];
}

/** The CA's subject names its group, so a certificate found on a server tells which group's CA issued it. */
export const authoritySubject = (group: string) => `CN=Berth group ${group} CA,O=Berth`;

export async function createAuthority(group: string, now: Date): Promise<KeyPairPem> {
  const keys = (await provider.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: authoritySubject(group),
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + AUTHORITY_DAYS * DAY_MS),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        // pathLen 0: it signs server certificates, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  return { certificate: pemText(certificate.toString('pem')), privateKey: await privateKeyPem(keys.privateKey) };
}

export async function issueServerCertificate(authority: KeyPairPem, server: ServerIdentity, now: Date): Promise<KeyPairPem> {
  const ca = new x509.X509Certificate(authority.certificate);
  const signingKey = await provider.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(authority.privateKey), ALGORITHM, false, ['sign']);
  const keys = (await provider.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = [...new Set(server.addresses)].map((value): x509.JsonGeneralName => ({ type: isIP(value) ? 'ip' : 'dns', value }));
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${server.name.replace(/[,+="<>#;\\]/g, '_')}`,
      issuer: ca.subject,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + CERTIFICATE_DAYS * DAY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false, provider),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  return { certificate: pemText(certificate.toString('pem')), privateKey: await privateKeyPem(keys.privateKey) };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pemText(x509.PemConverter.encode(await provider.subtle.exportKey('pkcs8', key), 'PRIVATE KEY'));
}

/** PEM as files carry it: ending with a newline, so files and bundles concatenate cleanly. */
const pemText = (text: string) => (text.endsWith('\n') ? text : `${text}\n`);

/** The sha256 of a certificate's DER, lowercase hex: what a person compares to trust a CA. */
export function fingerprintOf(certificatePem: string): string {
  return createHash('sha256').update(new X509Certificate(certificatePem).raw).digest('hex');
}

export interface CertificateFacts {
  notAfter: Date;
  /** DNS names and IP addresses, as the certificate's subjectAltName lists them. */
  names: string[];
  /** Whether `authorityPem` issued it (its issuer name and signature). */
  issuedBy(authorityPem: string): boolean;
}

export function inspectCertificate(pem: string | Buffer): CertificateFacts {
  const certificate = new X509Certificate(pem);
  return {
    notAfter: new Date(certificate.validTo),
    names: (certificate.subjectAltName ?? '')
      .split(', ')
      .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
      .filter((name): name is string => Boolean(name))
      .map((name) => name.toLowerCase()),
    issuedBy(authorityPem) {
      const authority = new X509Certificate(authorityPem);
      return certificate.checkIssued(authority) && certificate.verify(authority.publicKey);
    },
  };
}

export const daysLeft = (facts: Pick<CertificateFacts, 'notAfter'>, now: Date) => Math.floor((facts.notAfter.getTime() - now.getTime()) / DAY_MS);
