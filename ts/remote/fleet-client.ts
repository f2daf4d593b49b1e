// Fleet side: send a command to a device and await its answer, with a timeout. With MQTT 5 the
// answer comes on this client's own response topic, matched by correlation data; with 3.1.1 on
// the device's accepted/rejected topics, matched by requestId.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { RemoteError, type WireError } from './remote-error.js';
import { expandPrefix, topicsFor } from './topics.js';

export interface FleetClientOptions {
  url: string;
  protocolVersion?: 4 | 5;
  /** Default 'kvs-edge/{deviceId}', as on the devices. */
  topicPrefix?: string;
  clientId?: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  connectTimeoutMs?: number;
}

export interface SendOptions {
  timeoutMs?: number;
  requestId?: string;
}

export interface FleetClientEvents {
  error: [Error];
}

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class FleetClient extends EventEmitter<FleetClientEvents> {
  readonly #opts: FleetClientOptions;
  readonly #clientId: string;
  readonly #responseTopic: string;
  readonly #waiters = new Map<string, Waiter>();
  readonly #subscribed = new Set<string>();
  #client: MqttClient | undefined;

  private constructor(opts: FleetClientOptions) {
    super();
    this.#opts = opts;
    this.#clientId = opts.clientId ?? `kvs-edge-fleet-${randomUUID().slice(0, 8)}`;
    this.#responseTopic = `kvs-edge-fleet/${this.#clientId}/responses`;
  }

  static async connect(opts: FleetClientOptions): Promise<FleetClient> {
    const fc = new FleetClient(opts);
    await fc.#open();
    return fc;
  }

  get protocolVersion(): 4 | 5 {
    return this.#opts.protocolVersion ?? 5;
  }

  #clientOptions(clientId: string): IClientOptions {
    const o = this.#opts;
    const copts: IClientOptions = {
      clientId,
      protocolVersion: this.protocolVersion,
      clean: true,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 1000,
    };
    if (o.username !== undefined) copts.username = o.username;
    if (o.password !== undefined) copts.password = o.password;
    if (o.ca) copts.ca = o.ca;
    if (o.cert) copts.cert = o.cert;
    if (o.key) copts.key = o.key;
    return copts;
  }

  async #open(): Promise<void> {
    const o = this.#opts;
    const copts = this.#clientOptions(this.#clientId);
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(o.url, copts, false);
    } catch (e) {
      throw new RemoteError('ERR_MQTT_CONNECT', `cannot connect to MQTT broker ${o.url}: ${(e as Error).message}`);
    }
    this.#client = client;
    client.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
    client.on('message', (topic, payload, packet) => {
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8')) as unknown;
      } catch {
        return;
      }
      if (body === null || typeof body !== 'object') return;
      const b = body as { requestId?: unknown; result?: unknown; error?: WireError };
      let key: string | undefined;
      if (topic === this.#responseTopic && packet.properties?.correlationData) {
        key = Buffer.from(packet.properties.correlationData).toString('utf8');
      } else if (typeof b.requestId === 'string') {
        key = b.requestId;
      }
      const w = key === undefined ? undefined : this.#waiters.get(key);
      if (!w || key === undefined) return;
      this.#waiters.delete(key);
      clearTimeout(w.timer);
      if (b.error && typeof b.error === 'object') w.reject(new RemoteError(String(b.error.code), String(b.error.message)));
      else w.resolve(b.result);
    });
    if (this.protocolVersion === 5) await client.subscribeAsync(this.#responseTopic, { qos: 1 });
  }

  prefixFor(deviceId: string): string {
    return expandPrefix(this.#opts.topicPrefix ?? 'kvs-edge/{deviceId}', deviceId);
  }

  /** Sends `command` to `deviceId`; resolves with the result, rejects with RemoteError (the device's code, or ERR_TIMEOUT). */
  async send(deviceId: string, command: string, args: Record<string, unknown> = {}, options: SendOptions = {}): Promise<unknown> {
    const client = this.#client;
    if (!client) throw new RemoteError('ERR_CLOSED', 'fleet client is closed');
    const topics = topicsFor(this.prefixFor(deviceId));
    const requestId = options.requestId ?? randomUUID();
    if (this.#waiters.has(requestId)) throw new RemoteError('ERR_REQUEST_ID_REUSED', `requestId ${requestId} is already waiting for an answer`);
    if (this.protocolVersion === 4) {
      for (const t of [topics.accepted(command), topics.rejected(command)]) {
        if (!this.#subscribed.has(t)) {
          await client.subscribeAsync(t, { qos: 1 });
          this.#subscribed.add(t);
        }
      }
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(requestId);
        reject(new RemoteError('ERR_TIMEOUT', `no answer from ${deviceId} to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(requestId, { resolve, reject, timer });
    });
    const payload = JSON.stringify({ requestId, args });
    await client.publishAsync(
      topics.command(command),
      payload,
      this.protocolVersion === 5
        ? {
            qos: 1,
            properties: {
              responseTopic: this.#responseTopic,
              correlationData: Buffer.from(requestId),
              // No one waits for the answer after the timeout, so the broker must not deliver it later.
              messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)),
            },
          }
        : { qos: 1 },
    );
    return answer;
  }

  /** Publishes raw bytes on a device's command topic (for tests and tools); no answer is awaited. */
  async publishRaw(deviceId: string, command: string, payload: string | Buffer): Promise<void> {
    if (!this.#client) throw new RemoteError('ERR_CLOSED', 'fleet client is closed');
    await this.#client.publishAsync(topicsFor(this.prefixFor(deviceId)).command(command), payload, { qos: 1 });
  }

  /** The retained status of a device, or null if none arrives within timeoutMs. */
  async status(deviceId: string, timeoutMs = 3000): Promise<Record<string, unknown> | null> {
    // A separate short-lived session: the broker hands retained messages to a new subscription.
    const opts = { ...this.#clientOptions(`${this.#clientId}-st-${randomUUID().slice(0, 6)}`), reconnectPeriod: 0 };
    let c: MqttClient;
    try {
      c = await mqtt.connectAsync(this.#opts.url, opts, false);
    } catch (e) {
      throw new RemoteError('ERR_MQTT_CONNECT', `cannot connect to MQTT broker ${this.#opts.url}: ${(e as Error).message}`);
    }
    try {
      const topic = topicsFor(this.prefixFor(deviceId)).status;
      const got = new Promise<Record<string, unknown> | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        c.on('message', (t, p) => {
          if (t !== topic) return;
          clearTimeout(timer);
          try {
            resolve(JSON.parse(p.toString('utf8')) as Record<string, unknown>);
          } catch {
            resolve(null);
          }
        });
      });
      await c.subscribeAsync(topic, { qos: 1 });
      return await got;
    } finally {
      await c.endAsync();
    }
  }

  async close(): Promise<void> {
    for (const [id, w] of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new RemoteError('ERR_CLOSED', `fleet client closed before the answer to ${id}`));
    }
    this.#waiters.clear();
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.endAsync();
  }
}
