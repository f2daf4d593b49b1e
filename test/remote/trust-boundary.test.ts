// The fleet's trust boundary, end to end as an attacker with publish rights on the command topic
// would try it (issue 14): `kvs-edge run` in a child process, a real mosquitto, the local KVS
// service and a real viewer (werift through KVS signaling). Every attempt to make the device
// run a program or name a file or device node is refused with the field and the reason; the
// configuration file stays byte-identical; no marker file ever appears, even after a viewer
// connects. Picking a source or sink the local configuration defines works and persists.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalService } from '../../ts/local/index.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { RemoteError } from '../../ts/remote/remote-error.js';
import { KvsViewer, type ServiceInfo } from '../runtime/fixtures/kvs-viewer.js';
import { MOSQUITTO, startBroker } from './fixtures/broker.js';
import { Watcher } from './fixtures/watcher.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'kvs-edge.js');
const missing = [
  [existsSync(join(repo, 'build', 'Release', 'kvs_edge.node')), 'build/Release/kvs_edge.node'],
  [existsSync(join(repo, 'dist', 'cli', 'main.js')), 'dist/ (npx tsc -p tsconfig.json)'],
  [existsSync(MOSQUITTO), MOSQUITTO],
  [existsSync('/usr/bin/gst-launch-1.0'), 'gst-launch-1.0 (the night source)'],
]
  .filter(([ok]) => !ok)
  .map(([, what]) => what);

const CHANNEL = 'trust-cam';
const DEVICE = 'trust-dev';

async function refusal(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteError) return e;
    throw e;
  }
  throw new Error('accepted: expected a refusal');
}

t.test('MQTT may tune the camera and pick local alternatives, never run a program or name a file or device', { skip: missing.length > 0 && `needs ${missing.join(', ')}`, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-trust-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The markers' directory exists, so /usr/bin/touch would succeed if it ever ran.
  const markers = join(dir, 'markers');
  mkdirSync(markers);
  const marker = (name: string): string => join(markers, name);
  const broker = await startBroker();
  t.teardown(() => broker.stop());
  const svc = await startLocalService({ turn: false, channels: [CHANNEL], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const info: ServiceInfo = { endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: CHANNEL };

  // The local configuration: named sources and sinks the fleet may pick from.
  const config = join(dir, 'device.json');
  const original =
    JSON.stringify(
      {
        deviceId: DEVICE,
        region: svc.region,
        endpoints: { controlPlane: svc.endpoint },
        credentials: { source: 'static', ...svc.credentials },
        channel: { name: CHANNEL, createIfMissing: false },
        video: {
          source: 'day',
          sources: {
            day: { type: 'pattern' },
            // A camera whose H.264 comes from a command the local administrator chose.
            night: {
              type: 'pipe',
              format: 'h264',
              command: ['gst-launch-1.0', '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=15/1', '!',
                'openh264enc', 'gop-size=15', '!', 'h264parse', 'config-interval=-1', '!', 'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'fdsink', 'fd=1'],
            },
          },
          width: 320,
          height: 240,
          fps: 15,
          keyframeInterval: 15,
        },
        audio: { source: 'tone', talkback: 'none', talkbackSinks: { archive: { sink: 'file', path: join(dir, 'talkback-{viewer}.wav') } } },
        mqtt: { enabled: true, url: broker.url, telemetryIntervalSec: 5 },
        logging: { level: 'info', format: 'json' },
      },
      null,
      2,
    ) + '\n';
  writeFileSync(config, original);

  const dev = spawn(process.execPath, [bin, 'run', '--config', config], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  dev.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((r) => dev.once('exit', r));
  t.teardown(async () => {
    if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGKILL');
    await exited;
  });
  const watch = await Watcher.open(broker.url, [`kvs-edge/${DEVICE}/#`]);
  t.teardown(() => watch.close());
  const fleet = await FleetClient.connect({ url: broker.url });
  t.teardown(() => fleet.close());
  const viewers: KvsViewer[] = [];
  t.teardown(async () => {
    for (const v of viewers) await v.close();
  });
  await watch
    .waitFor((m) => m.topic === `kvs-edge/${DEVICE}/status` && m.body['state'] === 'ready', 60_000)
    .catch((e: Error) => {
      throw new Error(`${e.message}; device stderr: ${stderr.slice(-2000)}`);
    });

  // The attacks. Each is refused with the field and why, as the command's error reply.
  const day = 'pick a video source defined in the local configuration (day, night, pattern)';
  const attacks: { name: string; patch: Record<string, unknown>; message: RegExp }[] = [
    {
      name: 'a pipe source running /usr/bin/touch',
      patch: { video: { source: { type: 'pipe', command: ['/usr/bin/touch', marker('pipe')], format: 'h264' } } },
      message: new RegExp(`video\\.source\\.command: not remotely settable: names a program; ${day.replace(/[()]/g, '\\$&')}`),
    },
    {
      name: 'a talk-back command sink',
      patch: { audio: { talkback: { sink: 'command', command: ['/usr/bin/touch', marker('talkback-command')] } } },
      message: /audio\.talkback\.command: not remotely settable: names a program; pick a talk-back sink defined in the local configuration \(archive, none\)/,
    },
    {
      name: 'a talk-back file path',
      patch: { audio: { talkback: { sink: 'file', path: marker('talkback-{viewer}.wav') } } },
      message: /audio\.talkback\.path: not remotely settable: names a file; pick a talk-back sink/,
    },
    { name: 'video.source.path', patch: { video: { source: { type: 'file', path: '/etc/passwd' } } }, message: /video\.source\.path: not remotely settable: names a file; pick a video source/ },
    { name: 'audio.source.path', patch: { audio: { source: 'file', path: '/etc/passwd' } }, message: /audio\.path: not remotely settable: names a file/ },
    { name: 'a v4l2 device', patch: { video: { source: { type: 'v4l2', device: '/dev/video9' } } }, message: /video\.source\.device: not remotely settable: names a device node; pick a video source/ },
    { name: 'the encoder device', patch: { video: { encoderDevice: '/dev/mem' } }, message: /video\.encoderDevice: not remotely settable: names a device node/ },
    { name: 'the audio device', patch: { audio: { device: 'hw:1,0' } }, message: /audio\.device: not remotely settable: names a device node/ },
    {
      name: 'redefining a named source',
      patch: { video: { sources: { night: { type: 'pipe', command: ['/usr/bin/touch', marker('redefined')] } }, source: 'night' } },
      message: /video\.sources: not remotely settable: the named video sources are defined only in the local configuration/,
    },
    {
      name: 'adding a talk-back sink',
      patch: { audio: { talkbackSinks: { evil: { sink: 'command', command: ['/usr/bin/touch', marker('sink')] } }, talkback: 'evil' } },
      message: /audio\.talkbackSinks: not remotely settable: the named talk-back sinks are defined only in the local configuration/,
    },
    {
      name: 'widening the allow-list',
      patch: { mqtt: { remoteSettable: ['video.fps', 'system.reboot.command'] } },
      message: /mqtt\.remoteSettable: not remotely settable: the list of remotely settable fields is set only in the local configuration/,
    },
    { name: 'the reboot command', patch: { system: { reboot: { enabled: true, command: ['/usr/bin/touch', marker('reboot')] } } }, message: /system\.reboot\.enabled, system\.reboot\.command: not remotely settable: runs a program/ },
    { name: 'an allowed field with a forbidden one', patch: { video: { fps: 10, source: { type: 'pipe', command: ['/usr/bin/touch', marker('mixed')] } } }, message: /video\.source\.command: not remotely settable/ },
  ];
  for (const a of attacks) {
    const e = await refusal(fleet.send(DEVICE, 'set-config', { patch: a.patch }));
    t.equal(e.code, 'ERR_FORBIDDEN_FIELD', `${a.name}: refused (${e.message})`);
    t.match(e.message, a.message, `${a.name}: the reply names the field and why`);
    t.match(e.message, /nothing was changed/, `${a.name}: says nothing changed`);
    t.equal(readFileSync(config, 'utf8'), original, `${a.name}: the configuration file is byte-identical`);
  }
  t.same(readdirSync(dir).sort(), ['device.json', 'markers'], 'no last-good, pending or other file was written');
  t.equal(watch.seen.filter((m) => m.body['type'] === 'config-applied').length, 0, 'no config-applied event');

  // A real viewer connects: the running source is still the local "day" pattern, and nothing ran.
  const a = await KvsViewer.connect(info, 'viewer-a', { audio: true });
  viewers.push(a);
  const got = await a.waitForFrames(15, 30_000);
  t.ok(got.frames >= 15, `viewer-a receives the day source (${got.frames} frames)`);
  t.match(await fleet.send(DEVICE, 'status'), { state: 'streaming', encoder: 'openh264', viewers: 1 }, 'still the pattern through openh264');
  await new Promise((r) => setTimeout(r, 1000));
  t.same(readdirSync(markers), [], 'no marker file appeared after a viewer connected');

  // Picking what the local configuration defines works, is applied live and persists.
  const picked = (await fleet.send(DEVICE, 'set-config', { patch: { video: { source: 'night' }, audio: { talkback: 'archive' } } })) as {
    config: { video: { sourceName: string; source: { type: string } }; audio: { talkbackName: string } };
  };
  t.match(picked.config, { video: { sourceName: 'night', source: { type: 'pipe' } }, audio: { talkbackName: 'archive' } }, 'set-config by name accepted');
  await watch.waitFor((m) => m.topic === `kvs-edge/${DEVICE}/events` && m.body['type'] === 'config-applied');
  const saved = JSON.parse(readFileSync(config, 'utf8')) as { video: { source: unknown; sources: unknown }; audio: { talkback: unknown } };
  t.equal(saved.video.source, 'night', 'the file now names the night source');
  t.equal(saved.audio.talkback, 'archive', 'and the archive sink');
  t.same(saved.video.sources, (JSON.parse(original) as typeof saved).video.sources, 'the named sources themselves are unchanged');
  // The viewer was on the old track: a new one sees the night source, passed through.
  const b = await KvsViewer.connect(info, 'viewer-b');
  viewers.push(b);
  const gotB = await b.waitForFrames(15, 30_000);
  t.ok(gotB.frames >= 15, `viewer-b receives the night source (${gotB.frames} frames)`);
  t.equal(gotB.firstFrameIsKeyframe, true, 'starting with a keyframe');
  const st = (await fleet.send(DEVICE, 'status')) as { encoder: string };
  t.equal(st.encoder, 'passthrough', 'the device now passes the night pipe H.264 through');
  t.same(readdirSync(markers), [], 'still no marker file');
});
