// What `npm start` (`kvs-edge demo`) runs, all in this process and on loopback: the local KVS
// service, an aedes MQTT broker, the device runtime as master of a demo channel (test pattern +
// tone, talk-back recorded, data-channel echo), MQTT remote control on that broker, and the
// browser viewer (ts/web). Nothing here re-implements them: it wires the real parts together.
import { Aedes } from 'aedes';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../config/config-store.js';
import { ControlPlane, StaticCredentialsProvider } from '../kvs/index.js';
import { startLocalService, type LocalKvsService } from '../local/index.js';
import { Logger, type LogLevel } from '../log/logger.js';
import { RemoteControl } from '../remote/remote-control.js';
import { Device } from '../runtime/device.js';
import { controlPlaneViewerConfig, listenWithFallback, startWebServer } from '../web/server.js';

export const DEMO_DEVICE_ID = 'demo-camera';
export const DEMO_CHANNEL = 'kvs-edge-demo';

export interface DemoOptions {
  /** The viewer page's port (default 8080; a free one when it is taken). */
  port?: number;
  /** The MQTT broker's port (default 1883; a free one when it is taken). */
  mqttPort?: number;
  video?: { width?: number; height?: number; fps?: number; bitrateKbps?: number };
  /** Runtime log level (logs go to stderr). */
  logLevel?: LogLevel;
  version?: string;
}

export interface Demo {
  /** The viewer page. */
  readonly url: string;
  readonly mqttUrl: string;
  readonly deviceId: string;
  readonly channel: string;
  /** Where each viewer's talk-back is written as talkback-<clientId>.wav (removed on close). */
  readonly talkbackDir: string;
  readonly device: Device;
  readonly remote: RemoteControl;
  readonly local: LocalKvsService;
  /** Stops everything, last started first; idempotent. */
  close(): Promise<void>;
}

/** An in-process MQTT 3.1.1 broker (aedes) on loopback. */
async function startBroker(port: number): Promise<{ url: string; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await listenWithFallback(server, port, '127.0.0.1', true);
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const level = options.logLevel ?? 'warn';
  const logger = new Logger({ level, fields: { deviceId: DEMO_DEVICE_ID } });
  const undo: (() => unknown)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const fn of undo.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        logger.warn('demo shutdown', { error: e as Error });
      }
    }
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-demo-'));
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    const talkbackDir = join(dir, 'talkback');
    mkdirSync(talkbackDir);

    const local = await startLocalService({ channels: [DEMO_CHANNEL], closeGraceMs: 200 });
    undo.push(() => local.close());
    const broker = await startBroker(options.mqttPort ?? 1883);
    undo.push(() => broker.close());

    // The device reads a real configuration file, as `kvs-edge run` does (set-config writes it).
    const v = options.video ?? {};
    const kbps = v.bitrateKbps ?? 1500;
    const configFile = join(dir, 'device.json');
    const config = {
      deviceId: DEMO_DEVICE_ID,
      region: local.region,
      endpoints: { controlPlane: local.endpoint },
      credentials: { source: 'static', ...local.credentials },
      channel: { name: DEMO_CHANNEL },
      video: {
        source: { type: 'pattern' },
        encoder: 'openh264',
        width: v.width ?? 1280,
        height: v.height ?? 720,
        fps: v.fps ?? 30,
        bitrate: { minKbps: Math.min(150, kbps), startKbps: kbps, maxKbps: Math.max(4000, kbps) },
      },
      // Each viewer's microphone (hold-to-talk) goes to its own WAV file in the demo's directory.
      audio: { source: 'tone', talkback: { sink: 'file', path: join(talkbackDir, 'talkback-{viewer}.wav') } },
      // Loopback only: the local service's STUN (and TURN), not the regional KVS STUN server.
      ice: { kvsStun: false },
      mqtt: { enabled: true, url: broker.url, protocol: '3.1.1', telemetryIntervalSec: 5 },
      logging: { level },
    };
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const store = new ConfigStore(configFile, { env: {} });
    const device = new Device({ store, logger, version: options.version ?? 'demo', board: null });
    undo.push(() => device.stop());
    await device.start();

    const remote = new RemoteControl({ deviceId: DEMO_DEVICE_ID, mqtt: store.config.mqtt, controller: device, logger });
    remote.on('error', (e) => logger.debug('mqtt', { error: e }));
    undo.push(() => remote.stop());
    await remote.start(15_000);

    // The page's viewer configuration comes from the control plane, as a KVS viewer app's would.
    const cp = new ControlPlane({
      region: local.region,
      channelName: DEMO_CHANNEL,
      credentials: new StaticCredentialsProvider(local.credentials),
      endpoint: local.endpoint,
      stunUrls: [],
    });
    undo.push(() => cp.close());
    const web = await startWebServer({
      port: options.port ?? 8080,
      fallbackToFreePort: true,
      signalingOrigin: local.wssEndpoint,
      viewerConfig: controlPlaneViewerConfig(cp, DEMO_CHANNEL, new StaticCredentialsProvider(local.credentials)),
    });
    undo.push(() => web.close());

    let closing: Promise<void> | undefined;
    return {
      url: web.url,
      mqttUrl: broker.url,
      deviceId: DEMO_DEVICE_ID,
      channel: DEMO_CHANNEL,
      talkbackDir,
      device,
      remote,
      local,
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
