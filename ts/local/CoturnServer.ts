import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvsError } from '../kvs/KvsError.js';

/**
 * coturn (`turnserver`) started on a free loopback port with the shared-secret scheme
 * (use-auth-secret + static-auth-secret): a TURN username is `<expiry unix time>:<name>` and its
 * password is base64(HMAC-SHA1(secret, username)), so the local service can mint time-limited
 * credentials without telling coturn. The process is ours: close() ends it.
 */
export interface CoturnEvents {
  exit: [code: number | null, signal: NodeJS.Signals | null];
  log: [line: string];
}

export interface CoturnOptions {
  binary?: string;
  host?: string;
  realm?: string;
  secret?: string;
  /**
   * A certificate for a TLS listener (TURN over TLS, `turns:`, as KVS offers for TCP): then
   * TCP clients are offered `turns:host:tlsPort?transport=tcp` instead of plain `turn:...tcp`.
   */
  tls?: { cert: string; key: string };
  /** coturn's verbose log (each session's transport, TLS version and cipher), as `log` events. */
  verbose?: boolean;
  /** Relay port range size (default 200, picked at random in 49152-65535). */
  relayPorts?: number;
  startTimeoutMs?: number;
}

export interface TurnCredentials {
  uris: string[];
  username: string;
  password: string;
  ttlSec: number;
}

export function findTurnserver(binary = 'turnserver'): string | undefined {
  if (binary.includes('/')) return existsSync(binary) ? binary : undefined;
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = join(dir, binary);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** A port free for both UDP and TCP on `host`. */
async function freePort(host: string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => resolve(udp.address().port));
    });
    const tcpOk = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (tcpOk) return port;
  }
  throw new KvsError('ERR_LOCAL_SERVICE', `no free port for coturn on ${host}`);
}

function bindingRequest(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(b, 8);
  return b;
}

/** True when something answers a STUN Binding request on host:port within timeoutMs. */
export async function stunPing(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const s = createSocket('udp4');
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      s.on('message', (msg) => {
        if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      s.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      s.send(bindingRequest(), port, host);
    });
  } finally {
    s.close();
  }
}

export class CoturnServer extends EventEmitter<CoturnEvents> {
  readonly host: string;
  readonly realm: string;
  readonly secret: string;
  private child: ChildProcess | undefined;
  private workDir: string | undefined;
  private listenPort = 0;
  private tlsListenPort = 0;

  constructor(private readonly opts: CoturnOptions = {}) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.realm = opts.realm ?? 'kvs-edge.local';
    this.secret = opts.secret ?? randomBytes(16).toString('hex');
  }

  static available(binary?: string): boolean {
    return findTurnserver(binary) !== undefined;
  }

  get port(): number {
    return this.listenPort;
  }

  /** The TLS listener's port (0 without `tls`). */
  get tlsPort(): number {
    return this.tlsListenPort;
  }

  async start(): Promise<void> {
    const bin = findTurnserver(this.opts.binary);
    if (!bin) throw new KvsError('ERR_LOCAL_SERVICE', 'coturn (turnserver) is not installed');
    this.listenPort = await freePort(this.host);
    const span = this.opts.relayPorts ?? 200;
    const minPort = 49152 + Math.floor(Math.random() * (65535 - 49152 - span));
    this.workDir = mkdtempSync(join(tmpdir(), 'kvs-coturn-'));
    const tlsArgs: string[] = ['--no-tls'];
    if (this.opts.tls) {
      this.tlsListenPort = await freePort(this.host);
      const cert = join(this.workDir, 'turn-cert.pem');
      const key = join(this.workDir, 'turn-key.pem');
      writeFileSync(cert, this.opts.tls.cert);
      writeFileSync(key, this.opts.tls.key, { mode: 0o600 });
      tlsArgs.splice(0, 1, `--tls-listening-port=${this.tlsListenPort}`, `--cert=${cert}`, `--pkey=${key}`);
    }
    const args = [
      '-n',
      `--listening-ip=${this.host}`,
      `--listening-port=${this.listenPort}`,
      `--relay-ip=${this.host}`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + span}`,
      '--use-auth-secret',
      `--static-auth-secret=${this.secret}`,
      `--realm=${this.realm}`,
      '--fingerprint',
      ...tlsArgs,
      '--no-dtls',
      '--no-cli',
      '--no-software-attribute',
      '--allow-loopback-peers',
      `--userdb=${join(this.workDir, 'turndb')}`,
      `--pidfile=${join(this.workDir, 'turnserver.pid')}`,
      '--log-file=stdout',
      '--simple-log',
      ...(this.opts.verbose ? ['--verbose'] : []),
    ];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.emit('log', line);
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', onLine);
    let exited = false;
    child.once('exit', (code, signal) => {
      exited = true;
      if (this.child === child) this.child = undefined;
      this.emit('exit', code, signal);
    });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (exited) throw new KvsError('ERR_LOCAL_SERVICE', `coturn exited during start (port ${this.listenPort})`);
      if (await stunPing(this.host, this.listenPort, 200)) return;
    }
    await this.close();
    throw new KvsError('ERR_LOCAL_SERVICE', `coturn did not answer STUN on ${this.host}:${this.listenPort}`);
  }

  private get hostForUrl(): string {
    return this.host.includes(':') ? `[${this.host}]` : this.host;
  }

  /** Time-limited credentials of coturn's shared-secret scheme. */
  credentials(name: string, ttlSec: number, nowMs = Date.now()): TurnCredentials {
    const username = `${Math.floor(nowMs / 1000) + ttlSec}:${name}`;
    const password = createHmac('sha1', this.secret).update(username).digest('base64');
    return {
      uris: [
        `turn:${this.hostForUrl}:${this.listenPort}?transport=udp`,
        this.tlsListenPort ? `turns:${this.hostForUrl}:${this.tlsListenPort}?transport=tcp` : `turn:${this.hostForUrl}:${this.listenPort}?transport=tcp`,
      ],
      username,
      password,
      ttlSec,
    };
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await done;
      clearTimeout(t);
    }
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
    this.workDir = undefined;
  }
}
