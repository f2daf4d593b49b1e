// The arm64 packages on clean arm64 systems, run as arm64 under emulation (qemu-user, binfmt):
// `npm run package` (scripts/package/build.sh) makes the .deb, each suite's root filesystem
// (mmdebstrap, cached: scripts/rootfs/make.sh) is unpacked fresh, the .deb installed with apt
// (bookworm, trixie; dpkg without fsync: the root filesystem is thrown away), then as a user would: `kvs-edge --version`, `kvs-edge probe --board rpi-4`,
// and `kvs-edge run --local` serving a viewer (on the host, over loopback) that gets frames.
// KVS_PACKAGE_SYSTEMS picks the systems, "suite" or "suite/arch" (npm test: bookworm arm64;
// npm run test:arm64: bookworm and trixie arm64, bookworm amd64).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvsViewer, type ServiceInfo } from '../runtime/fixtures/kvs-viewer.js';
import { compareVersions, elfVersionNeeds, root, runScript, type ScriptRun } from './run-script.js';

// Longer than the suite's --timeout=600 per file: cold: root filesystems made under emulation, apt under emulation.
t.setTimeout(3_600_000);

// "suite" or "suite/arch" (arch arm64 by default; amd64 runs natively).
const SYSTEMS = (process.env['KVS_PACKAGE_SYSTEMS'] ?? 'bookworm').split(/[\s,]+/).filter(Boolean).map((s) => {
  const [suite, arch = 'arm64'] = s.split('/') as [string, string?];
  return { suite, arch };
});
const ARCHS = [...new Set(SYSTEMS.map((s) => s.arch))];
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

function show(r: ScriptRun): string {
  return `exit ${r.code}${r.killed ? ' (killed at its time limit)' : ''}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`;
}

const pkg = await runScript(['scripts/package/build.sh', ...ARCHS], 1_800_000);
t.comment(`npm run package (${ARCHS.join(', ')}): ${pkg.seconds.toFixed(0)} s`);
if (pkg.code !== 0) t.comment(show(pkg));
t.equal(pkg.code, 0, `the packages were built for ${ARCHS.join(', ')}`);

// What the .deb's ELF files need from the system is what its Depends promise: at most bookworm's
// glibc 2.36 and libstdc++ 12 (GLIBCXX_3.4.30), and OpenSSL 3.
for (const arch of pkg.code === 0 ? ARCHS : []) {
  t.test(`${arch}: the ELF version needs of the .deb's files fit its Depends`, async (t) => {
    const stage = join(root, 'build-pkg', `deb-${arch}`, 'opt', 'kvs-edge');
    const depends = (await runScript(['-c', 'dpkg-deb -f "$1" Depends', 'f', join(root, 'build-pkg', `kvs-edge_${version}_${arch}.deb`)], 60_000)).stdout;
    t.match(depends, /libc6 \(>= 2\.36\)/);
    t.match(depends, /libstdc\+\+6 \(>= 12\)/);
    t.match(depends, /libssl3t64 \| libssl3 \(>= 3\.0\.0\)/);
    const limits: Record<string, number[]> = { GLIBC: [2, 36], GLIBCXX: [3, 4, 30], OPENSSL: [3, 0, 0] };
    for (const file of ['build/Release/kvs_edge.node', 'node/bin/node']) {
      const needs = await elfVersionNeeds(join(stage, file));
      t.ok(needs.has('GLIBC'), `${file} has version needs`);
      for (const [prefix, limit] of Object.entries(limits)) {
        const v = needs.get(prefix);
        if (v) t.ok(compareVersions(v, limit) <= 0, `${file} needs ${prefix} ${v.join('.')} <= ${limit.join('.')}`);
      }
    }
  });
}

const chroot = (dir: string, args: string[], ms = 600_000) => runScript(['scripts/rootfs/chroot.sh', 'run', dir, ...args], ms);

for (const { suite, arch } of SYSTEMS) {
  t.test(`${suite} ${arch}`, async (t) => {
    const deb = join(root, 'build-pkg', `kvs-edge_${version}_${arch}.deb`);
    const uname = arch === 'arm64' ? 'aarch64' : 'x86_64';
    const dir = join(root, 'build-pkg', 'rootfs', `${suite}-${arch}`);
    t.teardown(() => runScript(['scripts/rootfs/chroot.sh', 'cleanup', dir], 120_000).then(() => undefined));
    const prep = await runScript(['scripts/rootfs/chroot.sh', 'prepare', suite, dir, arch], 2_400_000);
    t.comment(`${suite}/${arch}: root filesystem ready in ${prep.seconds.toFixed(0)} s`);
    if (prep.code !== 0) t.comment(show(prep));
    t.equal(prep.code, 0, `a clean ${suite} ${arch} root filesystem`);
    if (prep.code !== 0) return;

    const m = await chroot(dir, ['uname', '-m']);
    t.equal(m.stdout.trim(), uname, `programs in it run as ${uname}${arch === 'arm64' ? ' (qemu-user through binfmt)' : ''}`);

    copyFileSync(deb, join(dir, 'tmp', 'kvs-edge.deb'));
    const inst = await chroot(dir, ['sh', '-c', 'apt-get update -q && apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io /tmp/kvs-edge.deb'], 1_200_000);
    t.comment(`${suite}/${arch}: apt-get install of the .deb: ${inst.seconds.toFixed(0)} s`);
    if (inst.code !== 0) t.comment(show(inst));
    t.equal(inst.code, 0, `apt installs the .deb and its dependencies on ${suite}`);
    if (inst.code !== 0) return;

    const status = await chroot(dir, ['dpkg-query', '-W', '-f', '${Status} ${Version}', 'kvs-edge']);
    t.equal(status.stdout, `install ok installed ${version}`, 'dpkg lists kvs-edge as installed');
    const user = await chroot(dir, ['id', '-nG', 'kvs-edge']);
    t.equal(user.code, 0, `the kvs-edge system user exists ${user.stderr}`);
    t.match(user.stdout, /\bvideo\b/, 'kvs-edge is in the video group');
    t.match(user.stdout, /\baudio\b/, 'kvs-edge is in the audio group');
    t.equal(
      readFileSync(join(dir, 'usr', 'lib', 'sysusers.d', 'kvs-edge.conf'), 'utf8'),
      readFileSync(join(root, 'scripts', 'systemd', 'kvs-edge.sysusers.conf'), 'utf8'),
      'the sysusers.d file is installed',
    );
    const unit = readFileSync(join(dir, 'lib', 'systemd', 'system', 'kvs-edge.service'), 'utf8');
    t.match(unit, /^ExecStart=\/opt\/kvs-edge\/node\/bin\/node \/opt\/kvs-edge\/bin\/kvs-edge\.js run --config \/etc\/kvs-edge\/config\.yaml$/m, 'the unit runs the shipped Node');

    const ver = await chroot(dir, ['kvs-edge', '--version'], 120_000);
    t.equal(ver.code, 0, `kvs-edge --version exits 0 ${ver.stderr}`);
    t.equal(ver.stdout.trim(), `kvs-edge ${version}`, 'kvs-edge --version names the version');
    const node = await chroot(dir, ['/opt/kvs-edge/node/bin/node', '-p', 'process.version + " " + process.arch'], 120_000);
    t.match(node.stdout.trim(), new RegExp(`^v24\\.\\d+\\.\\d+ ${arch === 'arm64' ? 'arm64' : 'x64'}$`), `the shipped Node is 24 for ${arch}`);

    const probe = await chroot(dir, ['kvs-edge', 'probe', '--board', 'rpi-4'], 180_000);
    t.equal(probe.code, 0, `kvs-edge probe --board rpi-4 exits 0 ${probe.stderr}`);
    const p = JSON.parse(probe.stdout) as {
      board: { id: string };
      detection: { arch: string };
      encoders: { device: string; driver: string }[];
      wouldOpen: { encoder: string; device?: string; quirks?: string[] }[];
    };
    t.equal(p.board.id, 'rpi-4');
    t.equal(p.detection.arch, uname, `the probe ran as ${uname}`);
    t.equal(p.encoders[0]?.device, '/dev/video11', 'the Pi 4 encoder is /dev/video11');
    t.equal(p.encoders[0]?.driver, 'bcm2835-codec');
    const m2m = p.wouldOpen.find((w) => w.encoder === 'v4l2m2m');
    t.equal(m2m?.device, '/dev/video11', 'it would open /dev/video11');
    t.same(m2m?.quirks, ['stateful-encoder', 'needs-stride-multiple-of-32'], "with the Pi's quirks");

    await runLocal(t, dir, arch);
  });
}

async function runLocal(t: Test, dir: string, arch: string): Promise<void> {
  writeFileSync(join(dir, 'tmp', 'local.yaml'), 'channel:\n  name: arm64-cam\nvideo:\n  width: 320\n  height: 240\nlogging:\n  format: json\n');
  const proc = spawn('bash', ['scripts/rootfs/chroot.sh', 'run', dir, 'kvs-edge', 'run', '--config', '/tmp/local.yaml', '--local'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const t0 = Date.now();
  const end = t0 + 180_000;
  while (!out.includes('\n') || !err.includes('"device started"')) {
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`kvs-edge run --local did not start: stdout ${out} stderr ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.comment(`run --local: device started after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const svc = (JSON.parse(out.split('\n')[0] ?? '') as { local: ServiceInfo }).local;
  t.equal(svc.channel, 'arm64-cam');
  t.match(svc.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/, 'the embedded KVS service listens on loopback');
  const v = await KvsViewer.connect(svc, `${arch}-viewer`);
  t.teardown(() => v.close());
  const s = await v.waitForFrames(20, 120_000);
  t.equal(s.width, 320, `a viewer on the host got ${s.frames} frames of 320x240 from kvs-edge on ${arch}`);
  proc.kill('SIGINT');
  const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
  t.equal(code, 0, 'SIGINT: exit 0');
}
