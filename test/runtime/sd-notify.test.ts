// sd_notify without systemd: no NOTIFY_SOCKET means no-op; WATCHDOG_USEC parsing; datagrams
// reach a unix datagram socket (python3 plays systemd).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SystemdNotifier, watchdogIntervalMs } from '../../ts/runtime/sd-notify.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

t.test('watchdog interval: half of WATCHDOG_USEC, only for this pid', async (t) => {
  t.equal(watchdogIntervalMs({}), undefined);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }), 15_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) }), 15_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }), undefined, 'meant for another process');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'abc' }), undefined);
});

t.test('no NOTIFY_SOCKET: every call is a no-op', async (t) => {
  const n = new SystemdNotifier({ env: {} });
  t.equal(n.enabled, false);
  await n.ready('x');
  await n.notify({ WATCHDOG: 1 });
  n.startWatchdog(() => true, { WATCHDOG_USEC: '1000000' });
  n.stopWatchdog();
  t.pass('nothing thrown, nothing left running');
});

const helper = ['/usr/bin/systemd-notify', '/bin/systemd-notify', '/usr/bin/socat'].some((p) => existsSync(p));
t.test('READY, STATUS and WATCHDOG datagrams reach the socket', { skip: (!helper || !existsSync('/usr/bin/python3')) && 'needs systemd-notify or socat, and python3' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'n.sock');
  const py = spawn('/usr/bin/python3', [join(repo, 'test', 'runtime', 'fixtures', 'notify-socket.py'), sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    py.kill('SIGKILL');
  });
  const got: string[] = [];
  py.stdout.on('data', (d: Buffer) => got.push(...d.toString('utf8').split('\n').filter(Boolean)));
  const wait = async (re: RegExp): Promise<string> => {
    const end = Date.now() + 10_000;
    for (;;) {
      const hit = got.find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no datagram matching ${re} (got ${JSON.stringify(got)})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await wait(/^listening$/);
  const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: sock } });
  t.equal(n.enabled, true);
  await n.ready('channel up');
  const ready = await wait(/READY=1/);
  t.match(ready, /STATUS=channel up/);
  n.startWatchdog(() => true, { WATCHDOG_USEC: '1000000' });
  await wait(/WATCHDOG=1/);
  n.stopWatchdog();
  await n.stopping();
  await wait(/STOPPING=1/);
  t.pass('READY, WATCHDOG and STOPPING received');
});
