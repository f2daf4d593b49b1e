// The device side of MQTT remote control: commands in, answers out, retained status with a
// last will, periodic telemetry, events. It only talks to a DeviceController.
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type IClientPublishOptions } from 'mqtt';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { Logger } from '../log/logger.js';
import type { DeviceController, DeviceEvent, DeviceStatus } from '../runtime/controller.js';
import { SystemMetricsSampler, type SystemMetrics } from '../runtime/system-metrics.js';
import { AnswerCache } from './answer-cache.js';
import { COMMAND_NAMES, isCommandName, runCommand } from './commands.js';
import { baseClientOptions, isUnsupportedProtocol } from './mqtt-options.js';
import { RemoteError, toWireError, type WireError } from './remote-error.js';
import { TokenBucket } from './token-bucket.js';
import { expandPrefix, isPublishableTopic, topicsFor, type Topics } from './topics.js';

export const MAX_PAYLOAD_BYTES = 64 * 1024;

const envelopeSchema = z.strictObject({
  requestId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  args: z.record(z.string(), z.unknown()).optional(),
});

export type Answer =
  | { requestId: string | null; result: unknown }
  | { requestId: string | null; error: WireError };

interface ReplyTarget {
  responseTopic?: string;
  correlationData?: Buffer;
}

export interface RemoteControlEvents {
  connected: [{ protocolVersion: 4 | 5 }];
  disconnected: [];
  answered: [{ command: string; requestId: string | null; ok: boolean; code?: string }];
  'rate-limited': [{ command: string }];
  error: [Error];
}

export interface RemoteControlOptions {
  deviceId: string;
  mqtt: Config['mqtt'];
  controller: DeviceController;
  logger?: Logger;
  /** SoC temperature file for telemetry (from the board profile). */
  thermalZone?: string;
  /** Commands waiting to run at once; beyond it requests are answered ERR_BUSY. */
  maxPending?: number;
  /** Opens the MQTT client (default mqtt.connect); the fuzz target passes an in-memory one. */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
}

export class RemoteControl extends EventEmitter<RemoteControlEvents> {
  readonly topics: Topics;
  readonly #opts: RemoteControlOptions;
  readonly #log: Logger;
  readonly #controller: DeviceController;
  readonly #bucket: TokenBucket;
  /** Rejections of rate-limited requests are themselves limited; beyond this, requests are dropped. */
  readonly #rejectBucket: TokenBucket;
  readonly #answers = new AnswerCache<{ command: string; answer: Promise<Answer> }>();
  readonly #metrics: SystemMetricsSampler;
  #client: MqttClient | undefined;
  #protocolVersion: 4 | 5 = 5;
  #pending = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #telemetryTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #backoffMs = 1000;
  #stopped = false;
  #dropped = 0;
  #downSince: number | undefined;
  readonly #pendingStarts = new Set<() => void>();

  constructor(opts: RemoteControlOptions) {
    super();
    this.#opts = opts;
    this.#controller = opts.controller;
    this.#log = (opts.logger ?? new Logger({ level: 'warn' })).child({ module: 'remote' });
    this.topics = topicsFor(expandPrefix(opts.mqtt.topicPrefix, opts.deviceId));
    const rl = opts.mqtt.rateLimit;
    this.#bucket = new TokenBucket(rl.perSecond, rl.burst);
    this.#rejectBucket = new TokenBucket(rl.perSecond, rl.burst);
    this.#metrics = new SystemMetricsSampler(opts.thermalZone);
  }

  get protocolVersion(): 4 | 5 {
    return this.#protocolVersion;
  }

  get connected(): boolean {
    return this.#client?.connected === true;
  }

  /** Requests dropped without an answer because even rejections were over the limit. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Connects (and keeps reconnecting with backoff); resolves once connected and subscribed. */
  start(timeoutMs = 30_000): Promise<void> {
    if (this.#client?.connected) return Promise.resolve();
    const already = this.#client !== undefined;
    this.#stopped = false;
    this.#unsubscribe ??= this.#controller.onEvent((e) => void this.#onDeviceEvent(e));
    const want = this.#opts.mqtt.protocol;
    this.#protocolVersion = want === '3.1.1' ? 4 : 5;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new RemoteError('ERR_MQTT_CONNECT_TIMEOUT', `no MQTT connection to ${this.#opts.mqtt.url} within ${timeoutMs} ms (still retrying)`));
      }, timeoutMs);
      const onConnected = (): void => {
        cleanup();
        resolve();
      };
      const onStopped = (): void => {
        cleanup();
        reject(new RemoteError('ERR_STOPPED', 'remote control was stopped before it connected'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('connected', onConnected);
        this.#pendingStarts.delete(onStopped);
      };
      this.on('connected', onConnected);
      this.#pendingStarts.add(onStopped);
      if (!already) this.#connect();
    });
  }

  #connect(): void {
    const { mqtt: m, deviceId } = this.#opts;
    const clientId = m.clientId ?? deviceId;
    const opts = baseClientOptions(m, clientId, this.#protocolVersion);
    // Persistent session: commands sent while the device was briefly away are delivered.
    opts.clean = false;
    if (this.#protocolVersion === 5) opts.properties = { sessionExpiryInterval: 600 };
    opts.will = {
      topic: this.topics.status,
      payload: Buffer.from(JSON.stringify({ online: false, state: 'offline', deviceId })),
      qos: 1,
      retain: true,
    };
    const client = (this.#opts.connect ?? mqtt.connect)(m.url, opts);
    this.#client = client;
    let everConnected = false;
    client.on('connect', () => {
      if (everConnected && this.#downSince !== undefined) {
        const downMs = Math.round(performance.now() - this.#downSince);
        void this.publishEvent({ type: 'mqtt-reconnected', downMs });
      }
      this.#downSince = undefined;
      everConnected = true;
      this.#backoffMs = 1000;
      client.options.reconnectPeriod = 1000;
      void this.#onConnect(client);
    });
    client.on('reconnect', () => {
      // Exponential backoff up to 30 s; mqtt.js reads reconnectPeriod each time it schedules.
      this.#backoffMs = Math.min(this.#backoffMs * 2, 30_000);
      client.options.reconnectPeriod = this.#backoffMs;
    });
    client.on('close', () => {
      if (everConnected && this.#downSince === undefined) {
        this.#downSince = performance.now();
        this.emit('disconnected');
      }
    });
    client.on('error', (err) => {
      if (!everConnected && this.#opts.mqtt.protocol === 'auto' && this.#protocolVersion === 5 && isUnsupportedProtocol(err)) {
        this.#log.info('broker does not speak MQTT 5; falling back to 3.1.1');
        this.#protocolVersion = 4;
        client.end(true);
        this.#connect();
        return;
      }
      this.#log.warn('mqtt error', { error: err });
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    client.on('message', (topic, payload, packet) => void this.#onMessage(topic, payload, packet));
  }

  async #onConnect(client: MqttClient): Promise<void> {
    try {
      await client.subscribeAsync(this.topics.commandFilter, { qos: this.#opts.mqtt.qos });
      await this.publishStatus();
    } catch (e) {
      this.#log.warn('subscribe after connect failed', { error: e as Error });
      return;
    }
    this.#startTelemetry();
    this.#log.info('mqtt connected', { url: this.#opts.mqtt.url, protocolVersion: this.#protocolVersion });
    this.emit('connected', { protocolVersion: this.#protocolVersion });
  }

  #startTelemetry(): void {
    if (this.#telemetryTimer) return;
    this.#telemetryTimer = setInterval(() => void this.publishTelemetry(), this.#opts.mqtt.telemetryIntervalSec * 1000);
  }

  async #publish(topic: string, body: unknown, opts: IClientPublishOptions = {}): Promise<void> {
    const client = this.#client;
    if (!client || !client.connected) return;
    try {
      await client.publishAsync(topic, JSON.stringify(body), { qos: this.#opts.mqtt.qos, ...opts });
    } catch (e) {
      this.#log.warn('publish failed', { topic, error: e as Error });
    }
  }

  async publishStatus(status?: DeviceStatus): Promise<void> {
    let s: DeviceStatus | undefined = status;
    if (!s) {
      try {
        s = await this.#controller.status();
      } catch (e) {
        this.#log.warn('status failed', { error: e as Error });
        return;
      }
    }
    await this.#publish(this.topics.status, { online: true, deviceId: this.#opts.deviceId, ...s, time: new Date().toISOString() }, { retain: true, qos: 1 });
  }

  async publishTelemetry(): Promise<void> {
    let t;
    try {
      t = await this.#controller.telemetry();
    } catch (e) {
      this.#log.warn('telemetry failed', { error: e as Error });
      return;
    }
    const system: SystemMetrics = this.#metrics.sample();
    await this.#publish(this.topics.telemetry, { time: new Date().toISOString(), ...t, system }, { qos: 0 });
  }

  async publishEvent(event: Record<string, unknown>): Promise<void> {
    await this.#publish(this.topics.events, { time: new Date().toISOString(), ...event }, { qos: 1 });
  }

  async #onDeviceEvent(e: DeviceEvent): Promise<void> {
    await this.publishEvent({ ...e });
    if (e.type === 'state' || e.type === 'viewer-joined' || e.type === 'viewer-left') await this.publishStatus();
  }

  #replyTarget(packet: IPublishPacket): ReplyTarget {
    const props = packet.properties;
    if (this.#protocolVersion !== 5 || !props?.responseTopic) return {};
    // Never answer onto a command topic (ours or, by wildcard-free prefix, anyone's): an answer
    // must not be read as a request.
    if (props.responseTopic.includes('/cmd/')) return {};
    const t: ReplyTarget = { responseTopic: props.responseTopic };
    if (props.correlationData) t.correlationData = Buffer.from(props.correlationData);
    return t;
  }

  async #reply(command: string, target: ReplyTarget, answer: Answer): Promise<void> {
    const ok = 'result' in answer;
    if (target.responseTopic && isPublishableTopic(target.responseTopic)) {
      const properties: NonNullable<IClientPublishOptions['properties']> = { userProperties: { status: ok ? 'accepted' : 'rejected' } };
      if (target.correlationData) properties.correlationData = target.correlationData;
      await this.#publish(target.responseTopic, answer, { properties });
    } else {
      await this.#publish(ok ? this.topics.accepted(command) : this.topics.rejected(command), answer);
    }
    const ev: RemoteControlEvents['answered'][0] = { command, requestId: answer.requestId, ok };
    if (!ok) ev.code = answer.error.code;
    this.emit('answered', ev);
  }

  async #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const cmdPrefix = `${this.topics.prefix}/cmd/`;
    if (!topic.startsWith(cmdPrefix)) return;
    const command = topic.slice(cmdPrefix.length);
    if (command.includes('/') || command === '') return;
    const target = this.#replyTarget(packet);
    if (packet.retain) {
      // A retained command would run again on every reconnect; the broker only sets retain on
      // stored messages, so this one is stale by definition.
      await this.#reply(command, target, {
        requestId: peekRequestId(payload),
        error: { code: 'ERR_RETAINED', message: 'commands must not be published with the retain flag; clear the retained message on this topic' },
      });
      return;
    }

    if (!this.#bucket.take()) {
      if (this.#rejectBucket.take()) {
        await this.#reply(command, target, {
          requestId: peekRequestId(payload),
          error: { code: 'ERR_RATE_LIMITED', message: `too many requests: at most ${this.#opts.mqtt.rateLimit.perSecond}/s (burst ${this.#opts.mqtt.rateLimit.burst}); retry later` },
        });
      } else {
        this.#dropped++;
      }
      this.emit('rate-limited', { command });
      return;
    }

    const reject = (requestId: string | null, code: string, message: string): Promise<void> =>
      this.#reply(command, target, { requestId, error: { code, message } });

    if (payload.length > MAX_PAYLOAD_BYTES) {
      await reject(null, 'ERR_TOO_LARGE', `payload of ${payload.length} bytes is over the limit of ${MAX_PAYLOAD_BYTES}`);
      return;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
    } catch {
      await reject(null, 'ERR_BAD_JSON', 'payload is not UTF-8 text');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text) as unknown;
    } catch (e) {
      await reject(null, 'ERR_BAD_JSON', `payload is not valid JSON (${(e as Error).message}); expected {"requestId": "...", "args": {...}}`);
      return;
    }
    const env = envelopeSchema.safeParse(body);
    if (!env.success) {
      const first = env.error.issues[0];
      const field = first?.path.length ? first.path.join('.') : '(payload)';
      const detail =
        first?.code === 'unrecognized_keys'
          ? `unknown field ${first.keys.map((k) => JSON.stringify(k)).join(', ')} (allowed: requestId, args)`
          : `${field}: ${first?.message ?? 'invalid'}`;
      await reject(peekRequestIdFrom(body), 'ERR_BAD_REQUEST', `bad request: ${detail}; expected {"requestId": "...", "args": {...}}`);
      return;
    }
    const { requestId, args } = env.data;

    const cached = this.#answers.get(requestId);
    if (cached) {
      if (cached.command !== command) {
        await reject(requestId, 'ERR_REQUEST_ID_REUSED', `requestId ${JSON.stringify(requestId)} was already used for ${cached.command}`);
        return;
      }
      // A retry: same answer, no second action.
      await this.#reply(command, target, await cached.answer);
      return;
    }

    if (!isCommandName(command)) {
      const answer: Answer = {
        requestId,
        error: { code: 'ERR_UNKNOWN_COMMAND', message: `unknown command ${JSON.stringify(command)}; known: ${listCommands()}` },
      };
      this.#answers.set(requestId, { command, answer: Promise.resolve(answer) });
      await this.#reply(command, target, answer);
      return;
    }

    const maxPending = this.#opts.maxPending ?? 16;
    if (this.#pending >= maxPending) {
      await reject(requestId, 'ERR_BUSY', `${this.#pending} commands are already waiting; retry later`);
      return;
    }
    this.#pending++;
    // Commands run one at a time, in arrival order: start/stop/set-config never interleave.
    const answer: Promise<Answer> = this.#chain.then(async (): Promise<Answer> => {
      try {
        const outcome = await runCommand(this.#controller, command, args);
        if (outcome.event) void this.publishEvent(outcome.event);
        return { requestId, result: outcome.result ?? null };
      } catch (e) {
        const error = toWireError(e);
        if (error.code === 'ERR_CONFIG_APPLY_FAILED') void this.publishEvent({ type: 'config-rolled-back', ...error });
        return { requestId, error };
      } finally {
        this.#pending--;
      }
    });
    this.#chain = answer;
    this.#answers.set(requestId, { command, answer });
    const a = await answer;
    if (command === 'start' || command === 'stop' || command === 'restart' || command === 'set-video') void this.publishStatus();
    await this.#reply(command, target, a);
  }

  /** Publishes the offline status and disconnects. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const fail of [...this.#pendingStarts]) fail();
    if (this.#telemetryTimer) clearInterval(this.#telemetryTimer);
    this.#telemetryTimer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    if (client.connected) {
      try {
        await client.publishAsync(
          this.topics.status,
          JSON.stringify({ online: false, state: 'offline', deviceId: this.#opts.deviceId, time: new Date().toISOString() }),
          { qos: 1, retain: true },
        );
      } catch {
        /* the will covers it */
      }
    }
    await client.endAsync();
  }
}

function listCommands(): string {
  return COMMAND_NAMES.join(', ');
}

function peekRequestIdFrom(body: unknown): string | null {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const id = (body as Record<string, unknown>)['requestId'];
    if (typeof id === 'string' && id.length <= 128) return id;
  }
  return null;
}

function peekRequestId(payload: Buffer): string | null {
  if (payload.length > MAX_PAYLOAD_BYTES) return null;
  try {
    return peekRequestIdFrom(JSON.parse(payload.toString('utf8')) as unknown);
  } catch {
    return null;
  }
}
