// Fuzz target: the MQTT command path of RemoteControl, topic + payload (+ retain flag and
// MQTT 5 response topic / correlation data) to dispatch and answer, as the broker would
// deliver them. The MQTT client is an in-memory double that records what is published; the
// DeviceController is a double that records each call and validates set-config patches with
// the real mergePatch/validateConfig (without writing a file).
// Input: up to four messages, each: flags, command name (a known one or fuzzed text), topic
// form, response topic, correlation data, payload (two-byte length). They are sent one at a
// time, each answered before the next.
// Property: nothing throws out of the dispatcher and no promise rejection goes unhandled;
// every message on a command topic gets exactly one answer, within 5 s, that is well formed
// ({requestId, result} or {requestId, error: {code: ERR_*, message}}) on the right topic;
// a message refused before dispatch makes no controller call; only the remotely settable
// fields (REMOTE_SETTABLE_FIELDS) ever change, and video.source only to an alternative that the
// local configuration defines (or the built-in pattern).
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { applyEnv, mergePatch, validateConfig } from '../../ts/config/load.js';
import { REMOTE_SETTABLE_FIELDS } from '../../ts/config/remote-fields.js';
import type { Config } from '../../ts/config/schema.js';
import { Logger, type LogLevel } from '../../ts/log/logger.js';
import { COMMAND_NAMES } from '../../ts/remote/commands.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import type { DeviceController, DeviceEventListener, DeviceStatus, Telemetry, VideoSettings, ViewerInfo } from '../../ts/runtime/controller.js';
import { check, FuzzFailure, Reader, settle, throwIfUnhandledRejection, withDeadline } from './harness.js';

const DEVICE = 'cam-1';
const PREFIX = `kvs-edge/${DEVICE}`;
const BASE_DOC = {
  deviceId: DEVICE,
  mqtt: { enabled: true, protocol: '5', rateLimit: { perSecond: 1000, burst: 1000 } },
  system: { reboot: { enabled: true } },
  // Named alternatives the local configuration defines: what set-config may pick by name.
  video: { sources: { night: { type: 'pipe', command: ['/usr/bin/night-camera', '--ir'], format: 'h264' } } },
};
/** What video.source may become remotely: the local alternatives and the built-in one, resolved. */
const VIDEO_SOURCES = ['night', 'pattern'].map((name) => validateConfig({ ...BASE_DOC, video: { ...BASE_DOC.video, source: name } }).video.source);
// Refused before anything runs: no controller call may come with these answers.
const REFUSED_BEFORE_DISPATCH = new Set([
  'ERR_RETAINED', 'ERR_RATE_LIMITED', 'ERR_TOO_LARGE', 'ERR_BAD_JSON', 'ERR_BAD_REQUEST', 'ERR_REQUEST_ID_REUSED',
  'ERR_UNKNOWN_COMMAND', 'ERR_BUSY', 'ERR_BAD_ARGS', 'ERR_FORBIDDEN_FIELD',
]);
const NAMES = [...COMMAND_NAMES, 'set_config', 'cmd', '', 'reboot/now'];

class RecordingController implements DeviceController {
  readonly calls: string[] = [];
  document: Record<string, unknown> = structuredClone(BASE_DOC);
  config: Config = validateConfig(structuredClone(BASE_DOC));
  #viewers = new Set(['viewer-1']);
  #status(): DeviceStatus {
    return { state: 'streaming', version: '0.0.0-fuzz', board: null, encoder: 'openh264', viewers: this.#viewers.size, channel: this.config.channel.name };
  }
  async status(): Promise<DeviceStatus> {
    return this.#status();
  }
  async start(): Promise<DeviceStatus> {
    this.calls.push('start');
    return this.#status();
  }
  async stop(): Promise<DeviceStatus> {
    this.calls.push('stop');
    return this.#status();
  }
  async restart(): Promise<DeviceStatus> {
    this.calls.push('restart');
    return this.#status();
  }
  async keyframe(): Promise<void> {
    this.calls.push('keyframe');
  }
  async setBitrate(kbps: number): Promise<{ kbps: number }> {
    this.calls.push('set-bitrate');
    check(Number.isInteger(kbps) && kbps >= 50 && kbps <= 50000, `set-bitrate reached the device with ${kbps}`);
    return { kbps };
  }
  async setVideo(s: VideoSettings): Promise<VideoSettings> {
    this.calls.push('set-video');
    check(Number.isInteger(s.width) && Number.isInteger(s.height) && Number.isInteger(s.fps), 'set-video reached the device with non-integers');
    return { ...s };
  }
  async viewers(): Promise<ViewerInfo[]> {
    return [...this.#viewers].map((clientId) => ({ clientId, connectedAt: '2026-01-01T00:00:00.000Z', bitrateKbps: 1000, fps: 30, rttMs: 10, lossPct: 0 }));
  }
  async kickViewer(clientId: string): Promise<boolean> {
    this.calls.push('kick-viewer');
    check(typeof clientId === 'string' && clientId.length > 0, 'kick-viewer reached the device without a clientId');
    return this.#viewers.delete(clientId);
  }
  async getConfig(): Promise<Config> {
    return this.config;
  }
  async setConfig(patch: Record<string, unknown>): Promise<Config> {
    this.calls.push('set-config');
    const next = mergePatch(this.document, patch) as Record<string, unknown>;
    this.config = validateConfig(applyEnv(next, {}).doc, 'the patched configuration');
    this.document = next;
    return this.config;
  }
  async setLogLevel(level: LogLevel): Promise<void> {
    this.calls.push('set-log-level');
    check(typeof level === 'string', 'set-log-level reached the device without a level');
  }
  async reboot(): Promise<void> {
    this.calls.push('reboot');
  }
  async telemetry(): Promise<Telemetry> {
    return { viewers: await this.viewers(), total: { bitrateKbps: 1000, fps: 30 } };
  }
  onEvent(_listener: DeviceEventListener): () => void {
    return () => undefined;
  }
}

/** Stands in for mqtt.js's MqttClient: the parts RemoteControl uses; publishes are recorded. */
class MqttClientDouble extends EventEmitter {
  connected = false;
  readonly published: Array<{ topic: string; payload: string; opts: IClientPublishOptions }> = [];
  constructor(readonly options: IClientOptions) {
    super();
    setImmediate(() => {
      this.connected = true;
      this.emit('connect');
    });
  }
  async subscribeAsync(): Promise<unknown[]> {
    return [];
  }
  async publishAsync(topic: string, payload: string, opts: IClientPublishOptions = {}): Promise<undefined> {
    check(typeof topic === 'string' && topic.length > 0 && !/[+#\0]/.test(topic), `published to an invalid topic ${JSON.stringify(topic)}`);
    this.published.push({ topic, payload, opts });
    return undefined;
  }
  end(): this {
    this.connected = false;
    return this;
  }
  async endAsync(): Promise<void> {
    this.connected = false;
  }
}

function leaves(v: unknown, path: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  } else out.set(path, JSON.stringify(v));
  return out;
}

/** Which named alternative a choice field holds: derived by validation from video.source etc. */
const DERIVED = ['video.sourceName', 'audio.sourceName', 'audio.talkbackName'];

/** Only the remotely settable fields changed, and video.source only to a local alternative. */
function onlySettableChanged(before: Config, after: Config): void {
  const a = leaves(before, '', new Map());
  const b = leaves(after, '', new Map());
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(path) === b.get(path)) continue;
    check(
      REMOTE_SETTABLE_FIELDS.some((f) => path === f || path.startsWith(`${f}.`)) || DERIVED.includes(path),
      `a remote command changed ${path}, which is not remotely settable`,
    );
  }
  if (!isDeepStrictEqual(before.video.source, after.video.source)) {
    check(VIDEO_SOURCES.some((s) => isDeepStrictEqual(s, after.video.source)), 'video.source became something other than a local alternative');
  }
}

async function answeredWithin(rc: RemoteControl, ms: number): Promise<{ ok: boolean; code?: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      rc.off('answered', onAnswer);
      reject(new FuzzFailure(`no answer within ${ms} ms`));
    }, ms);
    const onAnswer = (a: { ok: boolean; code?: string }): void => {
      clearTimeout(timer);
      resolve(a);
    };
    rc.once('answered', onAnswer);
  });
}

export async function fuzz(data: Buffer): Promise<void> {
  throwIfUnhandledRejection();
  await withDeadline(Number(process.env['FUZZ_TS_TIMEOUT_MS'] ?? 10000), () => one(data));
  await settle();
  throwIfUnhandledRejection();
}

async function one(data: Buffer): Promise<void> {
  const r = new Reader(data);
  const controller = new RecordingController();
  let client: MqttClientDouble | undefined;
  const rc = new RemoteControl({
    deviceId: DEVICE,
    mqtt: controller.config.mqtt,
    controller,
    logger: new Logger({ level: 'silent' }),
    connect: (_url, opts) => {
      client = new MqttClientDouble(opts);
      return client as unknown as MqttClient;
    },
  });
  await rc.start(5000);
  const c = client as MqttClientDouble;
  try {
    for (let i = 0; i < 4 && r.remaining > 0; i++) {
      const flags = r.byte();
      const command = flags & 1 ? r.string() : r.pick(NAMES);
      const topic = (flags & 6) === 6 ? r.string() : `${PREFIX}/cmd/${command}`;
      const responseTopic = flags & 8 ? r.string() : undefined;
      const correlationData = flags & 16 ? Buffer.from(r.bytes()) : undefined;
      const retain = (flags & 0xe0) === 0xe0;
      const payload = Buffer.from(r.bytes16());
      const packet = {
        cmd: 'publish', topic, payload, qos: 1, retain, dup: false,
        ...(responseTopic !== undefined || correlationData ? { properties: { responseTopic, correlationData } } : {}),
      } as IPublishPacket;
      // A broker delivers no topic with a wildcard or NUL (nobody can publish to one), none
      // over 65535 bytes, and on the command filter only one level below cmd/.
      if (/[+#\0]/.test(topic) || Buffer.byteLength(topic) > 65535) continue;
      const calls = controller.calls.length;
      const before = controller.config;
      const published = c.published.length;
      const rest = topic.slice(PREFIX.length + 5);
      const isCommand = topic.startsWith(`${PREFIX}/cmd/`) && rest !== '' && !rest.includes('/');
      const answered = isCommand ? answeredWithin(rc, 5000) : undefined;
      c.emit('message', topic, payload, packet);
      if (!answered) {
        await settle();
        check(c.published.length === published && controller.calls.length === calls, `a message on ${JSON.stringify(topic)} is ignored`);
        continue;
      }
      const a = await answered;
      const replies = c.published.slice(published).filter((p) => p.topic !== `${PREFIX}/status` && p.topic !== `${PREFIX}/events`);
      check(replies.length === 1, `one answer per command, got ${replies.length}`);
      const reply = replies[0] as (typeof replies)[0];
      const usesResponseTopic = responseTopic !== undefined && responseTopic !== '' && !responseTopic.includes('/cmd/') && Buffer.byteLength(responseTopic) <= 1024 && !/[+#\0]/.test(responseTopic);
      const want = usesResponseTopic ? responseTopic : `${PREFIX}/cmd/${rest}/${a.ok ? 'accepted' : 'rejected'}`;
      check(reply.topic === want, `answer on ${JSON.stringify(reply.topic)}, expected ${JSON.stringify(want)}`);
      const body = JSON.parse(reply.payload) as Record<string, unknown>;
      check(body['requestId'] === null || typeof body['requestId'] === 'string', 'the answer carries the requestId or null');
      if (a.ok) check('result' in body && !('error' in body), 'an accepted answer has a result');
      else {
        const e = body['error'] as { code?: unknown; message?: unknown } | undefined;
        check(typeof e?.code === 'string' && /^ERR_[A-Z0-9_]+$/.test(e.code) && e.code === a.code, `a refusal has a code: ${JSON.stringify(e)}`);
        check(typeof e.message === 'string' && e.message.length > 0, 'a refusal says why');
        check(e.code !== 'ERR_INTERNAL', `an internal error answered ${JSON.stringify(payload.toString('utf8').slice(0, 200))}: ${e.message as string}`);
        if (REFUSED_BEFORE_DISPATCH.has(e.code)) {
          check(controller.calls.length === calls, `${e.code} after the controller was called (${controller.calls.slice(calls).join(', ')})`);
        }
      }
      onlySettableChanged(before, controller.config);
    }
  } finally {
    await rc.stop();
  }
}
