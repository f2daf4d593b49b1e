// sd_notify(3) for Type=notify units: READY=1, WATCHDOG=1, STOPPING=1, STATUS=... sent as one
// datagram to $NOTIFY_SOCKET. Node has no unix datagram sockets, so the datagram is handed to
// systemd's own `systemd-notify` (with --pid of this process, so systemd credits the message to
// the main PID; NotifyAccess=all in the unit covers systemd versions that check the sender) or,
// when that is missing, to `socat`. Without NOTIFY_SOCKET every call is a no-op.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides the helper search (tests). */
  systemdNotify?: string;
  socat?: string;
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
  readonly #systemdNotify: string | undefined;
  readonly #socat: string | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: NotifierOptions = {}) {
    const env = opts.env ?? process.env;
    const s = env['NOTIFY_SOCKET'];
    this.socket = s && s.length > 0 ? s : undefined;
    this.#systemdNotify = opts.systemdNotify ?? findExecutable(['/usr/bin/systemd-notify', '/bin/systemd-notify']);
    this.#socat = opts.socat ?? findExecutable(['/usr/bin/socat', '/bin/socat']);
  }

  get enabled(): boolean {
    return this.socket !== undefined && (this.#systemdNotify !== undefined || this.#socat !== undefined);
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
      if (this.#systemdNotify && !socket.startsWith('@')) {
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
