// Board profiles, detection on fake /proc and /etc trees, and probe with fake /dev.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { detectBoard, loadBoardProfiles, readHostFacts, parseBoardProfile, DEFAULT_BOARDS_DIR } from '../../ts/config/boards.js';
import { probe, type EncoderChecker } from '../../ts/config/probe.js';
import { ConfigError } from '../../ts/config/errors.js';

function fakeRoot(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kvs-edge-root-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

const profiles = loadBoardProfiles();

t.test('every profile validates and the list is complete', async (t) => {
  t.same(
    profiles.map((p) => p.id).sort(),
    ['generic-arm64', 'generic-x86_64', 'jetson-agx-orin', 'jetson-nano', 'jetson-orin-nano', 'jetson-orin-nx', 'jetson-xavier-nx', 'rpi-3', 'rpi-4', 'rpi-5', 'rpi-zero-2w'],
  );
  const enc = Object.fromEntries(profiles.map((p) => [p.id, p.encoders.map((e) => e.device)]));
  t.same(enc['rpi-4'], ['/dev/video11']);
  t.same(enc['rpi-zero-2w'], ['/dev/video11']);
  t.same(enc['rpi-3'], ['/dev/video11']);
  t.same(enc['rpi-5'], [], 'Pi 5 has no hardware encoder');
  t.same(enc['jetson-nano'], ['/dev/nvhost-msenc']);
  t.same(enc['jetson-xavier-nx'], ['/dev/nvhost-msenc']);
  t.same(enc['jetson-orin-nx'], ['/dev/v4l2-nvenc']);
  t.same(enc['jetson-agx-orin'], ['/dev/v4l2-nvenc']);
  t.same(enc['jetson-orin-nano'], [], 'Orin Nano has no hardware encoder');
  t.same(enc['generic-x86_64'], []);
});

t.test('a bad profile is rejected with the field named', async (t) => {
  const good = JSON.parse(readFileSync(join(DEFAULT_BOARDS_DIR, 'rpi-4.json'), 'utf8')) as Record<string, unknown>;
  try {
    parseBoardProfile({ ...good, encoders: [{ kind: 'v4l2m2m', device: 'video11', driver: 'x', maxWidth: 1, maxHeight: 1 }] }, 'rpi-4.json');
    t.fail('accepted a relative device path');
  } catch (e) {
    t.match((e as ConfigError).message, /encoders\[0\]\.device: got "video11"; allowed: must be an absolute path/);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-boards-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(DEFAULT_BOARDS_DIR, 'rpi-4.json'), join(dir, 'rpi-four.json'));
  t.throws(() => loadBoardProfiles(dir), { code: 'ERR_BOARD_ID' }, 'file name must match id');
});

const models: [string, string | null, string, string][] = [
  ['Raspberry Pi Zero 2 W Rev 1.0', null, 'aarch64', 'rpi-zero-2w'],
  ['Raspberry Pi 3 Model B Plus Rev 1.3', null, 'armv7l', 'rpi-3'],
  ['Raspberry Pi 4 Model B Rev 1.4', null, 'aarch64', 'rpi-4'],
  ['Raspberry Pi Compute Module 4 Rev 1.0', null, 'aarch64', 'rpi-4'],
  ['Raspberry Pi 5 Model B Rev 1.0', null, 'aarch64', 'rpi-5'],
  ['NVIDIA Jetson Nano Developer Kit', '# R32 (release), REVISION: 7.1', 'aarch64', 'jetson-nano'],
  ['NVIDIA Jetson Xavier NX Developer Kit', '# R35 (release), REVISION: 4.1', 'aarch64', 'jetson-xavier-nx'],
  ['NVIDIA Jetson Orin NX Engineering Reference Developer Kit', '# R36 (release), REVISION: 3.0', 'aarch64', 'jetson-orin-nx'],
  ['Jetson AGX Orin Developer Kit', '# R36 (release), REVISION: 3.0', 'aarch64', 'jetson-agx-orin'],
  ['NVIDIA Jetson Orin Nano Developer Kit', '# R36 (release), REVISION: 3.0', 'aarch64', 'jetson-orin-nano'],
];

t.test('detection from device-tree model and Jetson release file', async (t) => {
  for (const [model, tegra, arch, want] of models) {
    const files: Record<string, string> = { '/proc/device-tree/model': `${model}\0` };
    if (tegra) files['/etc/nv_tegra_release'] = `${tegra}, GCID: 1, BOARD: t186ref\n`;
    const facts = readHostFacts({ root: fakeRoot(t, files), arch });
    t.equal(facts.model, model, 'NUL stripped');
    t.equal(detectBoard(profiles, facts).board?.id, want, model);
  }
  const none = readHostFacts({ root: fakeRoot(t, {}), arch: 'x86_64' });
  t.equal(detectBoard(profiles, none).board?.id, 'generic-x86_64', 'PC: generic x86_64');
  const arm = readHostFacts({ root: fakeRoot(t, { '/proc/device-tree/model': 'Pine64 RockPro64\0' }), arch: 'aarch64' });
  const d = detectBoard(profiles, arm);
  t.equal(d.board?.id, 'generic-arm64');
  t.match(d.reason, /Pine64 RockPro64.*matches no profile/);
  const noTegra = readHostFacts({ root: fakeRoot(t, { '/proc/device-tree/model': 'NVIDIA Jetson Nano Developer Kit\0' }), arch: 'aarch64' });
  t.equal(detectBoard(profiles, noTegra).board?.id, 'generic-arm64', 'a Jetson model without the release file is not trusted');
  t.equal(detectBoard(profiles, { model: null, tegraRelease: null, arch: 'riscv64' }).board, null, 'unknown arch: no board');
});

t.test('probe: encoder devices tried, auto falls back to openh264 unless a checker confirms H.264', async (t) => {
  const root = fakeRoot(t, {
    '/proc/device-tree/model': 'Raspberry Pi 4 Model B Rev 1.5\0',
    '/dev/video11': '',
    '/dev/video0': '',
    '/usr/bin/rpicam-vid': '',
    '/sys/class/thermal/thermal_zone0/temp': '48312\n',
  });
  const r = await probe({ root, arch: 'aarch64' });
  t.same(r.board, { id: 'rpi-4', name: 'Raspberry Pi 4' });
  t.match(r.encoders, [{ device: '/dev/video11', exists: true, opened: true, isV4l2M2M: null, h264Capture: null, usable: false }]);
  t.match(r.auto, { encoder: 'openh264', device: null, reason: /\/dev\/video11: opened; V4L2 M2M\/H\.264 capabilities not queried/ });
  t.match(r.cameras, [
    { kind: 'libcamera', found: true },
    { kind: 'v4l2', device: '/dev/video0', found: true },
  ]);
  t.equal(r.socTemperatureC, 48.3);

  const checked: string[] = [];
  const native: EncoderChecker = async (path) => {
    checked.push(path);
    return { exists: true, opened: true, isV4l2M2M: true, h264Capture: true, detail: 'bcm2835-codec-encode' };
  };
  const r2 = await probe({ root, arch: 'aarch64', checker: native });
  t.same(checked, [join(root, '/dev/video11')], 'checker given the path under the root');
  t.same(r2.auto, { encoder: 'v4l2m2m', device: '/dev/video11', reason: '/dev/video11 is a V4L2 M2M encoder with H.264 output' });

  const missing = await probe({ root: fakeRoot(t, { '/proc/device-tree/model': 'Raspberry Pi 3 Model B Rev 1.2\0' }), arch: 'armv7l' });
  t.match(missing.encoders, [{ device: '/dev/video11', exists: false, opened: false, detail: 'no such device node' }]);
  t.equal(missing.auto.encoder, 'openh264');

  const pi5 = await probe({ root: fakeRoot(t, { '/proc/device-tree/model': 'Raspberry Pi 5 Model B Rev 1.0\0' }), arch: 'aarch64' });
  t.match(pi5.auto, { encoder: 'openh264', reason: /no hardware H\.264 encoder/ });

  const forced = await probe({ root: fakeRoot(t, {}), arch: 'x86_64', board: 'jetson-orin-nx' });
  t.match(forced, { board: { id: 'jetson-orin-nx' }, detection: { reason: /chosen by configuration/ }, encoders: [{ device: '/dev/v4l2-nvenc', exists: false }] });
  await t.rejects(probe({ root: fakeRoot(t, {}), board: 'rpi-9' }), { code: 'ERR_BOARD_UNKNOWN' });
});
