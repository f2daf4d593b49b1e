// MQTT remote control against a real mosquitto: every command over MQTT 5 and 3.1.1, events,
// telemetry, retained status.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../ts/config/config-store.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { RemoteError } from '../../ts/remote/remote-error.js';
import { startBroker, type Broker } from './fixtures/broker.js';
import { MemoryController } from './fixtures/memory-controller.js';
import { Watcher } from './fixtures/watcher.js';

let broker: Broker;
const dirs: string[] = [];
t.before(async () => {
  broker = await startBroker();
});
t.teardown(async () => {
  await broker.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Device {
  remote: RemoteControl;
  controller: MemoryController;
  store: ConfigStore;
  file: string;
}

async function device(deviceId: string, protocol: '5' | '3.1.1', doc: Record<string, unknown> = {}): Promise<Device> {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-remote-'));
  dirs.push(dir);
  const file = join(dir, 'config.json');
  const store = new ConfigStore(file, { allowMissing: true, env: {} });
  store.save({ deviceId, mqtt: { enabled: true, url: broker.url, protocol, telemetryIntervalSec: 1 }, ...doc });
  const controller = new MemoryController(store);
  const remote = new RemoteControl({ deviceId, mqtt: store.config.mqtt, controller });
  await remote.start(15_000);
  return { remote, controller, store, file };
}

async function rejects(p: Promise<unknown>, code: string): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteError && e.code === code) return e;
    throw new Error(`expected ${code}, got ${String((e as { code?: string }).code)}: ${(e as Error).message}`);
  }
  throw new Error(`expected rejection ${code}, got success`);
}

for (const [protocol, version] of [
  ['5', 5],
  ['3.1.1', 4],
] as const) {
  t.test(`every command round trip over MQTT ${protocol}`, async (t) => {
    const id = `dev-${version}`;
    const d = await device(id, protocol);
    t.equal(d.remote.protocolVersion, version, 'device connected with the requested protocol');
    const fleet = await FleetClient.connect({ url: broker.url, protocolVersion: version });
    const watch = await Watcher.open(broker.url, [`kvs-edge/${id}/#`]);
    t.teardown(async () => {
      await fleet.close();
      await watch.close();
      await d.remote.stop();
    });

    const pong = (await fleet.send(id, 'ping')) as { pong: boolean };
    t.equal(pong.pong, true, 'ping answers pong');

    const started = (await fleet.send(id, 'start')) as { state: string };
    t.equal(started.state, 'streaming', 'start reports streaming');
    const again = (await fleet.send(id, 'start')) as { state: string };
    t.equal(again.state, 'streaming', 'start is idempotent');
    const st = (await fleet.send(id, 'status')) as Record<string, unknown>;
    t.match(st, { state: 'streaming', version: '0.0.0-test', board: 'generic-x86_64', encoder: 'openh264', viewers: 0 });

    const retained = await watch.waitFor((m) => m.topic === `kvs-edge/${id}/status` && m.body['state'] === 'streaming');
    t.equal(retained.body['online'], true, 'status topic says online');

    t.same(await fleet.send(id, 'keyframe'), { requested: true });
    t.equal(d.controller.keyframes, 1, 'controller got one keyframe request');

    t.same(await fleet.send(id, 'set-bitrate', { kbps: 800 }), { kbps: 800 });
    t.equal(d.controller.bitrateKbps, 800);
    t.same(await fleet.send(id, 'set-bitrate', { kbps: 9000 }), { kbps: 4000 }, 'bitrate clamped to maxKbps');

    t.same(await fleet.send(id, 'set-video', { width: 640, height: 480, fps: 15 }), { width: 640, height: 480, fps: 15 });

    d.controller.addViewer('viewer-1');
    await watch.waitFor((m) => m.topic === `kvs-edge/${id}/events` && m.body['type'] === 'viewer-joined');
    const v = (await fleet.send(id, 'viewers')) as { viewers: { clientId: string }[] };
    t.same(v.viewers.map((x) => x.clientId), ['viewer-1']);
    t.same(await fleet.send(id, 'kick-viewer', { clientId: 'viewer-1' }), { kicked: 'viewer-1' });
    await watch.waitFor((m) => m.topic === `kvs-edge/${id}/events` && m.body['type'] === 'viewer-left' && m.body['clientId'] === 'viewer-1');
    const unknown = await rejects(fleet.send(id, 'kick-viewer', { clientId: 'viewer-1' }), 'ERR_VIEWER_UNKNOWN');
    t.match(unknown.message, /viewer-1/);

    const cfg = (await fleet.send(id, 'get-config')) as { config: { deviceId: string; video: { encoder: string } } };
    t.equal(cfg.config.deviceId, id);
    t.equal(cfg.config.video.encoder, 'auto');

    // A change applied live: start bitrate.
    const applied = (await fleet.send(id, 'set-config', { patch: { video: { bitrate: { startKbps: 1200 } } } })) as {
      config: { video: { bitrate: { startKbps: number } } };
    };
    t.equal(applied.config.video.bitrate.startKbps, 1200);
    t.equal(d.controller.bitrateKbps, 1200, 'bitrate applied to the running device');
    t.match(JSON.parse(readFileSync(d.file, 'utf8')), { video: { bitrate: { startKbps: 1200 } } }, 'written to the file');
    await watch.waitFor((m) => m.topic === `kvs-edge/${id}/events` && m.body['type'] === 'config-applied');

    // A change that fails to apply: rolled back, file and running state unchanged.
    const rb = await rejects(fleet.send(id, 'set-config', { patch: { video: { fps: 60 } } }), 'ERR_CONFIG_APPLY_FAILED');
    t.match(rb.message, /rolled back.*60 fps/);
    t.equal(d.controller.video.fps, 30, 'running fps restored');
    t.equal(d.store.config.video.fps, 30);
    t.notMatch(readFileSync(d.file, 'utf8'), /"fps"/, 'file holds the previous version');
    await watch.waitFor((m) => m.topic === `kvs-edge/${id}/events` && m.body['type'] === 'config-rolled-back');

    t.same(await fleet.send(id, 'set-log-level', { level: 'debug' }), { level: 'debug' });
    t.equal(d.controller.logLevel, 'debug');

    const rr = await rejects(fleet.send(id, 'reboot'), 'ERR_DISABLED');
    t.match(rr.message, /system\.reboot\.enabled/);
    t.equal(d.controller.reboots, 0, 'no reboot when disabled');

    const restarted = (await fleet.send(id, 'restart')) as { state: string };
    t.equal(restarted.state, 'streaming');
    const stopped = (await fleet.send(id, 'stop')) as { state: string };
    t.equal(stopped.state, 'stopped');
    await watch.waitFor((m) => m.topic === `kvs-edge/${id}/status` && m.body['state'] === 'stopped');

    const tel = await watch.waitFor((m) => m.topic === `kvs-edge/${id}/telemetry`);
    t.match(tel.body, { viewers: Array, total: { bitrateKbps: Number, fps: Number }, system: { memUsedPct: Number, processRssMb: Number } });

    if (version === 4) {
      const acc = watch.seen.filter((m) => m.topic === `kvs-edge/${id}/cmd/ping/accepted`);
      t.equal(acc.length, 1, '3.1.1: the answer came on the accepted topic');
    } else {
      t.equal(watch.seen.filter((m) => m.topic.endsWith('/accepted')).length, 0, '5: answers went to the response topic only');
    }
  });
}

t.test('reboot runs only when the configuration enables it', async (t) => {
  const d = await device('dev-reboot', '5', { system: { reboot: { enabled: true, command: ['/bin/true'] } } });
  const fleet = await FleetClient.connect({ url: broker.url });
  t.teardown(async () => {
    await fleet.close();
    await d.remote.stop();
  });
  t.same(await fleet.send('dev-reboot', 'reboot'), { rebooting: true });
  t.equal(d.controller.reboots, 1);
  const e = await rejects(fleet.send('dev-reboot', 'set-config', { patch: { system: { reboot: { command: ['/bin/sh', '-c', 'x'] } } } }), 'ERR_FORBIDDEN_FIELD');
  t.match(e.message, /system\.reboot\.command/);
  t.same(d.store.config.system.reboot.command, ['/bin/true'], 'reboot command unchanged');
});

t.test('an MQTT 5 request without a response topic is answered on accepted/rejected', async (t) => {
  const d = await device('dev-plain', '5');
  const watch = await Watcher.open(broker.url, ['kvs-edge/dev-plain/cmd/+/+']);
  t.teardown(async () => {
    await watch.close();
    await d.remote.stop();
  });
  await watch.client.publishAsync('kvs-edge/dev-plain/cmd/ping', JSON.stringify({ requestId: 'r1' }), { qos: 1 });
  const a = await watch.waitFor((m) => m.topic === 'kvs-edge/dev-plain/cmd/ping/accepted');
  t.equal(a.body['requestId'], 'r1');
  t.match(a.body['result'], { pong: true });
});

t.test('a response topic that is a command topic is ignored in favour of accepted/rejected', async (t) => {
  const d = await device('dev-loop', '5');
  const watch = await Watcher.open(broker.url, ['kvs-edge/#']);
  t.teardown(async () => {
    await watch.close();
    await d.remote.stop();
  });
  await watch.client.publishAsync('kvs-edge/dev-loop/cmd/keyframe', JSON.stringify({ requestId: 'loop-1' }), {
    qos: 1,
    properties: { responseTopic: 'kvs-edge/dev-loop/cmd/restart', correlationData: Buffer.from('x') },
  });
  const a = await watch.waitFor((m) => m.topic === 'kvs-edge/dev-loop/cmd/keyframe/accepted');
  t.equal(a.body['requestId'], 'loop-1');
  t.equal(watch.seen.filter((m) => m.topic === 'kvs-edge/dev-loop/cmd/restart').length, 0, 'nothing published on the command topic');
  t.same(d.controller.calls, ['keyframe'], 'no restart');
});

t.test('graceful stop leaves a retained offline status', async (t) => {
  const d = await device('dev-stop', '5');
  await d.remote.stop();
  await d.remote.stop();
  const fleet = await FleetClient.connect({ url: broker.url });
  t.teardown(() => fleet.close());
  const s = await fleet.status('dev-stop');
  t.match(s, { online: false, state: 'offline' });
});
