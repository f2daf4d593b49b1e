// The fleet's allow-list (ts/config/remote-fields.ts) on its own: what a remote set-config patch
// may change, what is refused and what the refusal says; and the named alternatives in the schema.
import t from 'tap';
import { validateConfig } from '../../ts/config/load.js';
import { REMOTE_SETTABLE_FIELDS, REMOTE_VALUE_FIELDS, checkRemotePatch } from '../../ts/config/remote-fields.js';
import { runCommand } from '../../ts/remote/commands.js';
import type { DeviceController } from '../../ts/runtime/controller.js';

const local = validateConfig({
  video: {
    source: 'day',
    sources: {
      day: { type: 'v4l2', device: '/dev/video0' },
      night: { type: 'pipe', command: ['/usr/bin/rpicam-vid', '--codec', 'h264', '-o', '-'], format: 'h264' },
    },
  },
  audio: {
    source: 'tone',
    sources: { greeting: { source: 'file', path: '/srv/greeting.ogg' } },
    talkback: 'speaker',
    talkbackSinks: { speaker: { sink: 'command', command: ['aplay', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-'] }, archive: { sink: 'file', path: '/var/lib/kvs-edge/tb-{viewer}.ogg' } },
  },
});

const check = (patch: Record<string, unknown>, config = local) => checkRemotePatch(patch, config);

t.test('the named alternatives resolve in the schema; inline objects still load (backward compatible)', async (t) => {
  t.same(local.video.source, { type: 'v4l2', device: '/dev/video0', format: 'auto' }, 'video.source "day" is the day source');
  t.equal(local.video.sourceName, 'day');
  t.same(local.audio.talkback, { sink: 'command', command: ['aplay', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-'] });
  t.equal(local.audio.talkbackName, 'speaker');
  const old = validateConfig({ video: { source: { type: 'file', path: '/srv/a.h264' } }, audio: { source: 'file', path: '/srv/a.ogg', talkback: { sink: 'file', path: '/tmp/t.wav' } } });
  t.same(old.video.source, { type: 'file', path: '/srv/a.h264', loop: true });
  t.equal(old.video.sourceName, null);
  t.match(old.audio, { source: 'file', path: '/srv/a.ogg', talkback: { sink: 'file', path: '/tmp/t.wav' }, talkbackName: null });
  const greet = validateConfig({ audio: { source: 'greeting', sources: { greeting: { source: 'file', path: '/srv/g.ogg' } } } });
  t.match(greet.audio, { source: 'file', path: '/srv/g.ogg', sourceName: 'greeting' });
  t.throws(() => validateConfig({ video: { source: 'dusk', sources: { day: { type: 'pattern' } } } }), /video\.source: got "dusk"; allowed: .*\(day, pattern\)/);
  t.throws(() => validateConfig({ video: { sources: { pattern: { type: 'pipe', command: ['x'] } } } }), /video\.sources\.pattern: .*built in/);
  t.throws(() => validateConfig({ audio: { sources: { tone: { source: 'file', path: '/x.ogg' } } } }), /audio\.sources\.tone: .*built in/);
  t.throws(() => validateConfig({ audio: { talkback: 'nowhere' } }), /audio\.talkback: got "nowhere"; allowed: .*audio\.talkbackSinks \(none\)/);
});

t.test('value fields on the allow-list pass; the changed fields are listed', async (t) => {
  const r = check({ video: { width: 640, height: 480, fps: 15, bitrate: { minKbps: 100, maxKbps: 900 }, keyframeInterval: 30, qpMin: 20, qpMax: 40 }, viewers: { max: 2 }, logging: { level: 'debug' }, channel: { name: 'other' } });
  t.same(r.refusals, []);
  t.same(r.changed.sort(), ['channel.name', 'logging.level', 'video.bitrate.maxKbps', 'video.bitrate.minKbps', 'video.fps', 'video.height', 'video.keyframeInterval', 'video.qpMax', 'video.qpMin', 'video.width', 'viewers.max']);
  t.same(check({ video: { fps: null } }).refusals, [], 'null (back to the default) on a value field is allowed');
  t.same(check({ video: {} }), { changed: [], refusals: [] }, '{} changes nothing');
});

t.test('choice fields take a locally defined or built-in name, nothing else', async (t) => {
  t.same(check({ video: { source: 'night' } }), { changed: ['video.source'], refusals: [] });
  t.same(check({ video: { source: 'pattern' } }).refusals, [], 'built-in pattern');
  t.same(check({ audio: { source: 'greeting', talkback: 'archive' } }).refusals, []);
  t.same(check({ audio: { source: 'none', talkback: 'none' } }).refusals, [], 'built-in none');
  t.same(check({ video: { source: 'dusk' } }).refusals, ['video.source: not remotely settable: no video source named "dusk"; pick a video source defined in the local configuration (day, night, pattern)']);
  t.same(check({ audio: { source: 'file' } }).refusals, ['audio.source: not remotely settable: no audio source named "file"; pick an audio source defined in the local configuration (greeting, none, tone)']);
  t.match(check({ audio: { source: null } }).refusals, [/^audio\.source: not remotely settable: takes only the name of an audio source/]);
});

t.test('the attacks of issue 14 are refused, naming the field and why', async (t) => {
  t.same(check({ video: { source: { type: 'pipe', command: ['/usr/bin/touch', '/tmp/x'], format: 'h264' } } }).refusals, [
    'video.source.command: not remotely settable: names a program; pick a video source defined in the local configuration (day, night, pattern)',
  ]);
  t.match(check({ video: { source: { type: 'file', path: '/etc/shadow' } } }).refusals, [/^video\.source\.path: not remotely settable: names a file; pick a video source/]);
  t.match(check({ video: { source: { type: 'v4l2', device: '/dev/video9' } } }).refusals, [/^video\.source\.device: not remotely settable: names a device node; pick/]);
  t.match(check({ video: { source: { type: 'pattern' } } }).refusals, [/^video\.source: not remotely settable: a video source given as an object; pick/]);
  t.match(check({ audio: { talkback: { sink: 'command', command: ['/bin/sh', '-c', 'id'] } } }).refusals, [/^audio\.talkback\.command: not remotely settable: names a program; pick a talk-back sink defined in the local configuration \(speaker, archive, none\)/]);
  t.match(check({ audio: { talkback: { sink: 'file', path: '/root/.ssh/authorized_keys' } } }).refusals, [/^audio\.talkback\.path: not remotely settable: names a file/]);
  t.match(check({ audio: { source: 'file', path: '/etc/passwd' } }).refusals, [/audio\.source: .*no audio source named "file"/, /^audio\.path: not remotely settable: names a file$/]);
  t.match(check({ audio: { device: 'hw:0' } }).refusals, [/^audio\.device: not remotely settable: names a device node$/]);
  t.match(check({ video: { encoderDevice: '/dev/mem' } }).refusals, [/^video\.encoderDevice: not remotely settable: names a device node$/]);
  t.match(check({ system: { reboot: { command: ['/bin/sh'] } } }).refusals, [/^system\.reboot\.command: not remotely settable: runs a program on the host$/]);
  t.match(check({ mqtt: { url: 'mqtt://evil', password: 'x' } }).refusals, [/^mqtt\.url, mqtt\.password: not remotely settable: the fleet connection/]);
  t.match(check({ credentials: { source: 'static' } }).refusals, [/^credentials\.source: not remotely settable: holds credentials/]);
  t.match(check({ ice: { servers: [{ urls: 'turn:evil' }] } }).refusals, [/^ice\.servers: not remotely settable: says where media/]);
});

t.test('the alternatives and the allow-list cannot be changed remotely', async (t) => {
  t.same(check({ video: { sources: { night: { type: 'pipe', command: ['/usr/bin/touch', '/tmp/x'] } } } }).refusals, [
    'video.sources: not remotely settable: the named video sources are defined only in the local configuration',
  ]);
  t.same(check({ video: { sources: null } }).refusals, ['video.sources: not remotely settable: the named video sources are defined only in the local configuration']);
  t.match(check({ audio: { sources: { x: { source: 'tone' } } } }).refusals, [/^audio\.sources: .*defined only in the local configuration/]);
  t.match(check({ audio: { talkbackSinks: { x: { sink: 'none' } } } }).refusals, [/^audio\.talkbackSinks: .*defined only in the local configuration/]);
  t.match(check({ mqtt: { remoteSettable: [...REMOTE_SETTABLE_FIELDS, 'system.reboot.command'] } }).refusals, [/^mqtt\.remoteSettable: not remotely settable: the list of remotely settable fields is set only in the local configuration/]);
  // Both in one patch with an allowed field: the whole patch is refused.
  const mixed = check({ video: { fps: 10, sources: { night: { type: 'pattern' } }, source: 'night' } });
  t.equal(mixed.refusals.length, 1, 'refused although fps and source alone would pass');
  t.throws(() => validateConfig({ mqtt: { remoteSettable: ['video.fps', 'video.source.command'] } }), /mqtt\.remoteSettable\[1\]: got "video\.source\.command"; allowed: one of/, 'the local list cannot widen the built-in one');
});

t.test('a local mqtt.remoteSettable narrows the list', async (t) => {
  const narrow = validateConfig({ ...{ video: { sources: { night: { type: 'pattern' } } } }, mqtt: { remoteSettable: ['video.fps', 'viewers.max'] } });
  t.same(checkRemotePatch({ video: { fps: 10 }, viewers: { max: 1 } }, narrow).refusals, []);
  t.same(checkRemotePatch({ video: { width: 640, source: 'night' } }, narrow).refusals, [
    "video.width, video.source: not remotely settable: not on this device's list (mqtt.remoteSettable in its configuration)",
  ]);
});

t.test('the narrowing holds for the commands that change a setting without a patch', async (t) => {
  const narrow = validateConfig({ mqtt: { remoteSettable: ['viewers.max'] } });
  const calls: string[] = [];
  const controller = {
    getConfig: async () => narrow,
    setBitrate: async (kbps: number) => (calls.push(`bitrate ${kbps}`), { kbps }),
    setVideo: async (v: unknown) => (calls.push(`video ${JSON.stringify(v)}`), v),
    setLogLevel: async (level: string) => void calls.push(`level ${level}`),
  } as unknown as DeviceController;
  await t.rejects(runCommand(controller, 'set-bitrate', { kbps: 800 }), { code: 'ERR_FORBIDDEN_FIELD', message: /^set-bitrate refused, nothing was changed: video\.bitrate\.startKbps: not remotely settable: not on this device's list/ });
  await t.rejects(runCommand(controller, 'set-video', { width: 640, height: 480, fps: 15 }), { code: 'ERR_FORBIDDEN_FIELD', message: /set-video refused.*video\.width, video\.height, video\.fps: not remotely settable/ });
  await t.rejects(runCommand(controller, 'set-log-level', { level: 'trace' }), { code: 'ERR_FORBIDDEN_FIELD', message: /set-log-level refused.*logging\.level/ });
  t.same(calls, [], 'nothing reached the device');
  const open = validateConfig({ mqtt: { remoteSettable: ['video.bitrate.startKbps', 'video.width', 'video.height', 'video.fps', 'logging.level'] } });
  const allowed = { ...controller, getConfig: async () => open } as unknown as DeviceController;
  await runCommand(allowed, 'set-bitrate', { kbps: 800 });
  await runCommand(allowed, 'set-video', { width: 640, height: 480, fps: 15 });
  await runCommand(allowed, 'set-log-level', { level: 'debug' });
  t.same(calls, ['bitrate 800', 'video {"width":640,"height":480,"fps":15}', 'level debug'], 'listed fields go through');
});

t.test('anything off the list is refused, and the refusal lists what the fleet may change', async (t) => {
  const r = check({ deviceId: 'other', board: 'rpi-4', region: 'eu-west-1', channel: { createIfMissing: false }, video: { fpss: 10 } });
  t.match(r.refusals[0], /^deviceId: not remotely settable: is the device's identity$/);
  t.match(r.refusals, [/deviceId/, /board: .*device nodes/, /region: .*signed requests/, /^channel\.createIfMissing, video\.fpss: not remotely settable: not on the list of fields the fleet may change$/, /^the fleet may change: channel\.name, video\.width/]);
  t.match(check({ video: null }).refusals, [/^video: not remotely settable: not as a whole/]);
  let deep: Record<string, unknown> = { x: 1 };
  for (let i = 0; i < 20_000; i++) deep = { a: deep };
  t.match(check({ video: { source: deep }, a: deep }).refusals, [/^video\.source: not remotely settable: a video source given as an object/, /^a\.a\.a\.a\.a\.a\.a\.a\.a: not remotely settable: not on the list/], 'a deeply nested patch is refused without walking all of it');
  t.match(check({ constructor: { x: 1 } }).refusals, [/^constructor\.x: not remotely settable: not on the list/]);
  t.ok(Object.keys(REMOTE_VALUE_FIELDS).every((f) => !/command|path|device|sources|Sinks/i.test(f.split('.').pop() ?? '')), 'no value field names a program, file or device');
});
