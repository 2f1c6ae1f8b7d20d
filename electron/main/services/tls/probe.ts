/**
 * What a gateway serves over HTTPS, asked from this machine like a client would: its certificate (for renewal and
 * expiry alerts, whatever this Berth's role) and GETs that trust the group CA (Node's fetch takes no CA of its own).
 */
import { get } from 'node:https';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { inspectCertificate, type CertificateFacts } from './authority';

/** The certificate the gateway at host:port presents, read without trusting it (it is judged by the caller). */
export function servedCertificate(host: string, port: number, timeoutMs = 5000): Promise<CertificateFacts> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS answer from ${host}:${port} within ${timeoutMs} ms`)));
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerX509Certificate();
      socket.end();
      if (certificate) resolve(inspectCertificate(certificate.toString()));
      else reject(new Error(`${host}:${port} presented no certificate`));
    });
    socket.once('error', reject);
  });
}

export interface HttpsAnswer {
  status: number;
  body: string;
}

/** GET over HTTPS, trusting only `authority` (a PEM CA certificate). */
export function getTrusting(url: string, authority: string, timeoutMs: number): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca: authority, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}
