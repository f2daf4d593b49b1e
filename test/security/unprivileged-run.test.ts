// The runtime needs no privilege (what the systemd unit's User=kvs-edge and empty
// CapabilityBoundingSet= rely on): `kvs-edge run` as an unprivileged user, with no capabilities
// and no_new_privs, its configuration in a directory it owns, serves a real viewer through the
// local KVS service. Run as root, the test drops to `nobody` with setpriv; run as anyone else, it
// is already unprivileged and runs as it is.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { KvsViewer, type ServiceInfo } from '../runtime/fixtures/kvs-viewer.js';
import { bin, repo, startDevice, writeDeviceConfig } from './fixtures/device.js';

const SETPRIV = '/usr/bin/setpriv';
const root = process.getuid?.() === 0;
const NOBODY = 65534;
const missing = [
  [existsSync(join(repo, 'build', 'Release', 'kvs_edge.node')), 'build/Release/kvs_edge.node'],
  [existsSync(join(repo, 'dist', 'cli', 'main.js')), 'dist/ (npx tsc -p tsconfig.json)'],
  [!root || existsSync(SETPRIV), `${SETPRIV} (util-linux) to drop root`],
].filter(([ok]) => !ok).map(([, what]) => what);

/** As root: can `nobody` run this Node and read the checkout (a clone under /root cannot)? */
function nobodyCanRun(): string | undefined {
  const probe = `const fs = require('fs'); for (const p of ${JSON.stringify([bin, join(repo, 'dist', 'cli', 'main.js'), join(repo, 'build', 'Release', 'kvs_edge.node'), join(repo, 'node_modules', 'ws', 'package.json')])}) fs.accessSync(p, fs.constants.R_OK);`;
  const r = spawnSync(SETPRIV, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', probe], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? undefined : `nobody cannot run ${process.execPath} on this checkout (${(r.stderr || r.error?.message || '').trim().split('\n').find((l) => /Error|EACCES/.test(l)) ?? `exit ${r.status}`}); run from a checkout others can read`;
}
const SKIP = (missing.length > 0 && `needs ${missing.join(', ')}`) || (root && nobodyCanRun());

t.test('kvs-edge run serves a viewer as an unprivileged user without capabilities', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-unpriv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // What the unit gives it: a configuration directory and a state directory of its own.
  const etc = join(dir, 'etc');
  const state = join(dir, 'state');
  mkdirSync(etc, { mode: 0o700 });
  mkdirSync(state, { mode: 0o700 });
  const svc: LocalKvsService = await startLocalService({ turn: false, channels: ['unpriv-cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const config = join(etc, 'config.json');
  writeDeviceConfig(config, svc, 'unpriv-cam', { credentials: { source: 'static', ...svc.credentials }, logging: { level: 'info', format: 'json' } });
  if (root) for (const p of [dir, etc, state, config]) chownSync(p, NOBODY, NOBODY);

  const node = [process.execPath, bin, 'run', '--config', config];
  const argv = root ? [SETPRIV, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', ...node] : node;
  const dev = startDevice(t, argv, { cwd: state, env: { HOME: state } });
  await dev.started();
  const pid = dev.proc.pid ?? 0;
  // setpriv executes node in place: the pid is the runtime's (and so is the one after its own
  // execve into lite mode).
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  const capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1];
  t.not(uid, '0', `runs as uid ${uid ?? '?'}`);
  t.equal(Number.parseInt(capEff ?? 'f', 16), 0, `no effective capability (CapEff ${capEff ?? '?'})`);
  if (root) t.match(status, /^NoNewPrivs:\s+1$/m, 'no_new_privs');

  const info: ServiceInfo = { endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: 'unpriv-cam' };
  const viewer = await KvsViewer.connect(info, 'viewer-unpriv');
  t.teardown(() => viewer.close());
  const got = await viewer.waitForFrames(10, 60_000);
  t.ok(got.frames >= 10, `the viewer received ${got.frames} frames`);
  await viewer.close();
  dev.proc.kill('SIGTERM');
  t.equal(await dev.closed, 0, 'SIGTERM: exit 0');
});
