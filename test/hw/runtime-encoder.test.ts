// The runtime on a board profile whose hardware encoder is absent here (Raspberry Pi 4,
// /dev/video11): `video.encoder: auto` falls back to openh264, a KVS viewer still gets frames,
// and the status the device publishes over MQTT says which encoder runs and why.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../ts/config/config-store.js';
import { findBoard, loadBoardProfiles } from '../../ts/config/boards.js';
import { startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { Logger } from '../../ts/log/logger.js';
import { Device } from '../../ts/runtime/device.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { startBroker } from '../remote/fixtures/broker.js';
import { KvsViewer } from '../runtime/fixtures/kvs-viewer.js';

const ADDON = new URL('../../build/Release/kvs_edge.node', import.meta.url);
const SKIP = (!existsSync(ADDON) && 'needs build/Release/kvs_edge.node') || (!existsSync('/usr/sbin/mosquitto') && 'needs mosquitto');
const CHANNEL = 'hw-cam';

t.test('auto on a Pi 4 profile without /dev/video11: openh264, frames flow, MQTT status says why', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-hw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svc: LocalKvsService = await startLocalService({ turn: false, channels: [CHANNEL], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const broker = await startBroker();
  t.teardown(() => broker.stop());
  const file = join(dir, 'device.json');
  writeFileSync(
    file,
    JSON.stringify({
      deviceId: 'hw-dev',
      board: 'rpi-4',
      region: svc.region,
      endpoints: { controlPlane: svc.endpoint },
      credentials: { source: 'static', ...svc.credentials },
      channel: { name: CHANNEL },
      video: { width: 320, height: 240, fps: 30, encoder: 'auto' },
      mqtt: { enabled: true, url: broker.url },
    }),
  );
  const store = new ConfigStore(file, { env: {} });
  const board = findBoard(loadBoardProfiles(), 'rpi-4');
  const dev = new Device({ store, logger: new Logger({ level: 'silent' }), version: 'test', board: board.id, boardProfile: board, startWaitMs: 3000 });
  t.teardown(() => dev.stop());
  const st = await dev.start();
  t.match(st, { state: 'ready', board: 'rpi-4', encoder: 'openh264', encoderReason: /^auto: \/dev\/video11: No such file or directory; software encoder$/ });

  const remote = new RemoteControl({ deviceId: 'hw-dev', mqtt: store.config.mqtt, controller: dev });
  await remote.start(15_000);
  t.teardown(() => remote.stop());
  const fleet = await FleetClient.connect({ url: broker.url });
  t.teardown(() => fleet.close());
  let published: Record<string, unknown> | null = null;
  for (let i = 0; i < 20 && !published?.['encoder']; i++) published = await fleet.status('hw-dev', 3000);
  t.match(published, { online: true, deviceId: 'hw-dev', board: 'rpi-4', encoder: 'openh264', encoderReason: /\/dev\/video11/ }, 'retained MQTT status names the encoder and the reason');
  const answered = (await fleet.send('hw-dev', 'status', {}, { timeoutMs: 10_000 })) as Record<string, unknown>;
  t.match(answered, { encoder: 'openh264', encoderReason: /software encoder/ }, 'the status command answers the same');

  const viewer = await KvsViewer.connect({ endpoint: svc.endpoint, region: svc.region, credentials: svc.credentials, channel: CHANNEL }, 'hw-viewer');
  t.teardown(() => viewer.close());
  const got = await viewer.counter.waitForFrames(30, 30_000, 'hw-viewer');
  t.ok(got.frames >= 30 && got.keyframes >= 1, `a KVS viewer got ${got.frames} frames from the fallback encoder`);
  t.equal(got.width, 320);
});
