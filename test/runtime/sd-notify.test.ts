// sd_notify without systemd: no NOTIFY_SOCKET means no-op; WATCHDOG_USEC parsing; datagrams
// reach a unix datagram socket (python3 plays systemd).
import t, { type Test } from 'tap';
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

/** Starts the python stand-in for systemd on `sock`; returns a waiter for a received line. */
async function fakeSystemd(t: Test, sock: string, fixture = 'notify-socket.py'): Promise<(re: RegExp) => Promise<string>> {
  const py = spawn('/usr/bin/python3', [join(repo, 'test', 'runtime', 'fixtures', fixture), sock], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  return wait;
}

const helper = ['/usr/bin/systemd-notify', '/bin/systemd-notify', '/usr/bin/socat'].some((p) => existsSync(p));
t.test('without the addon: READY, STATUS and WATCHDOG datagrams reach the socket through systemd-notify or socat', { skip: (!helper || !existsSync('/usr/bin/python3')) && 'needs systemd-notify or socat, and python3' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'n.sock');
  const wait = await fakeSystemd(t, sock);
  const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: sock }, native: null });
  t.equal(n.enabled, true);
  t.not(n.via, 'native');
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

const ADDON = join(repo, 'build', 'Release', 'kvs_edge.node');
for (const kind of ['path', 'abstract'] as const) {
  t.test(`from the addon, the datagram comes from this process (NotifyAccess=main), ${kind} socket`, { skip: (!existsSync(ADDON) || !existsSync('/usr/bin/python3')) && 'needs the built addon and python3' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-notify-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const sock = kind === 'path' ? join(dir, 'n.sock') : `@kvs-edge-test-${process.pid}-${Date.now()}`;
    const wait = await fakeSystemd(t, sock, 'notify-socket-cred.py');
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: sock } });
    t.equal(n.via, 'native', 'sent by the addon, no helper process');
    await n.ready('channel up');
    const ready = await wait(/READY=1/);
    t.equal(ready, `pid=${process.pid}|READY=1|STATUS=channel up`, 'the kernel says our pid sent it, fields intact');
    n.startWatchdog(() => true, { WATCHDOG_USEC: '1000000' });
    t.equal(await wait(/WATCHDOG=1/), `pid=${process.pid}|WATCHDOG=1`);
    n.stopWatchdog();
    await n.stopping();
    t.equal(await wait(/STOPPING=1/), `pid=${process.pid}|STOPPING=1`);
  });
}

t.test('a socket that is not there is not fatal', { skip: !existsSync(ADDON) && 'needs the built addon' }, async (t) => {
  const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: join(tmpdir(), `kvs-edge-no-such-${process.pid}.sock`) } });
  t.equal(n.via, 'native');
  await n.ready('x');
  t.pass('resolved without throwing');
});
