// sd_notify(3) for Type=notify units: READY=1, WATCHDOG=1, STOPPING=1, STATUS=... sent as one
// datagram to $NOTIFY_SOCKET. Node has no unix datagram sockets, so the native addon sends it
// (cpp/addon: sendto on AF_UNIX) from this very process: systemd credits it to the main PID and
// the unit says NotifyAccess=main. Without the addon (not built), the datagram is handed to
// systemd's own `systemd-notify --pid` or to `socat`; a unit run that way needs NotifyAccess=all.
// Without NOTIFY_SOCKET every call is a no-op.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { addon } from '../native/addon.js';

/** Sends one datagram to a unix socket path or @abstract name; throws on failure. */
export type DatagramSender = (socket: string, message: string) => void;

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** The in-process sender; default the native addon's, null to use only the helpers (tests). */
  native?: DatagramSender | null;
  /** Overrides the helper search (tests). */
  systemdNotify?: string;
  socat?: string;
}

function nativeSender(): DatagramSender | undefined {
  try {
    const a = addon();
    return typeof a.notifySocket === 'function' ? (socket, message) => a.notifySocket(socket, message) : undefined;
  } catch {
    return undefined;
  }
}

function findExecutable(candidates: readonly string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** Seconds between watchdog pings: half of WATCHDOG_USEC, when it is meant for this process. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const pid = env['WATCHDOG_PID'];
  if (pid !== undefined && pid !== '' && Number(pid) !== process.pid) return undefined;
  return Math.max(500, Math.floor(usec / 1000 / 2));
}

export class SystemdNotifier {
  readonly socket: string | undefined;
  readonly #native: DatagramSender | undefined;
  readonly #systemdNotify: string | undefined;
  readonly #socat: string | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: NotifierOptions = {}) {
    const env = opts.env ?? process.env;
    const s = env['NOTIFY_SOCKET'];
    this.socket = s && s.length > 0 ? s : undefined;
    this.#native = opts.native === null ? undefined : (opts.native ?? (this.socket ? nativeSender() : undefined));
    this.#systemdNotify = opts.systemdNotify ?? findExecutable(['/usr/bin/systemd-notify', '/bin/systemd-notify']);
    this.#socat = opts.socat ?? findExecutable(['/usr/bin/socat', '/bin/socat']);
  }

  get enabled(): boolean {
    return this.socket !== undefined && (this.#native !== undefined || this.#systemdNotify !== undefined || this.#socat !== undefined);
  }

  /** How datagrams leave: 'native' (this process, NotifyAccess=main), a helper, or 'none'. */
  get via(): 'native' | 'systemd-notify' | 'socat' | 'none' {
    if (!this.socket) return 'none';
    if (this.#native) return 'native';
    if (this.#systemdNotify && !this.socket.startsWith('@')) return 'systemd-notify';
    return this.#socat ? 'socat' : 'none';
  }

  /** Sends `KEY=value` lines; resolves when handed over (errors are swallowed: never fatal). */
  notify(fields: Record<string, string | number>): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    const lines = Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`);
    const run = this.#chain.then(() => this.#send(socket, lines));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  #send(socket: string, lines: string[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => resolve();
      if (this.#native) {
        try {
          this.#native(socket, lines.join('\n') + '\n');
        } catch {
          /* never fatal: systemd may be gone (a full queue, a stopped manager) */
        }
        resolve();
      } else if (this.#systemdNotify && !socket.startsWith('@')) {
        // systemd-notify reads NOTIFY_SOCKET from its environment.
        execFile(this.#systemdNotify, [`--pid=${process.pid}`, ...lines], { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5000 }, done);
      } else if (this.#socat) {
        const addr = socket.startsWith('@') ? `ABSTRACT-SENDTO:${socket.slice(1)}` : `UNIX-SENDTO:${socket}`;
        const child = execFile(this.#socat, ['-u', 'STDIN', addr], { timeout: 5000 }, done);
        child.stdin?.end(lines.join('\n') + '\n');
      } else {
        resolve();
      }
    });
  }

  ready(status?: string): Promise<void> {
    return this.notify(status ? { READY: 1, STATUS: status } : { READY: 1 });
  }

  status(text: string): Promise<void> {
    return this.notify({ STATUS: text });
  }

  stopping(): Promise<void> {
    return this.notify({ STOPPING: 1 });
  }

  /** Pings WATCHDOG=1 at half the unit's WatchdogSec while `healthy()` says so. */
  startWatchdog(healthy: () => boolean, env: NodeJS.ProcessEnv = process.env): void {
    const every = watchdogIntervalMs(env);
    if (!this.socket || every === undefined || this.#watchdog) return;
    this.#watchdog = setInterval(() => {
      if (healthy()) void this.notify({ WATCHDOG: 1 });
    }, every);
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}
