/**
 * A TLS client that records every byte it receives and what the handshake showed (the server's
 * certificate serial, whether the client saw it as authorized), for tests of TLS listeners.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { cmd, parseFrames, type RespValue } from './resp.js';
import { waitUntil } from './wait.js';

export interface TlsClientOptions {
  /** CA file the server's certificate must chain to. */
  readonly ca: string;
  /** Client certificate and key files, when one is presented. */
  readonly cert?: string;
  readonly key?: string;
  readonly host?: string;
  readonly minVersion?: tls.SecureVersion;
  readonly maxVersion?: tls.SecureVersion;
  readonly ciphers?: string;
}

export class TlsClient {
  private chunks: Buffer[] = [];
  closed = false;
  error: Error | null = null;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => this.chunks.push(d));
    socket.on('error', (e) => (this.error = e));
    socket.once('close', () => (this.closed = true));
  }

  /** Resolves once the handshake is done (rejects when it fails on the client's side). */
  static connect(port: number, opts: TlsClientOptions): Promise<TlsClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({
        port,
        host: opts.host ?? '127.0.0.1',
        ca: readFileSync(opts.ca),
        ...(opts.cert ? { cert: readFileSync(opts.cert), key: readFileSync(opts.key!) } : {}),
        ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
        ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
        ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
      });
      s.once('error', reject);
      s.once('secureConnect', () => {
        s.off('error', reject);
        resolve(new TlsClient(s));
      });
    });
  }

  /** The serial number of the certificate the server presented (upper-case hex). */
  get serverSerial(): string {
    return this.socket.getPeerCertificate().serialNumber;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  replies(): RespValue[] {
    return parseFrames(Buffer.concat(this.chunks)).values;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends one command and waits for its reply (or the close). */
  async request(...args: (string | number | Buffer)[]): Promise<RespValue> {
    const k = this.replies().length;
    await this.write(cmd(...args));
    await waitUntil(() => this.replies().length > k || this.closed, { timeoutMs: 10_000, what: () => `a reply to ${args[0]}; got ${JSON.stringify(this.text())}` });
    const r = this.replies()[k];
    if (r === undefined) throw new Error(`closed before a reply to ${args[0]}; got ${JSON.stringify(this.text())}`);
    return r;
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.closed, { timeoutMs, what: () => `the server to close; got ${JSON.stringify(this.text())}` });
  }

  close(): void {
    this.socket.destroy();
  }
}
