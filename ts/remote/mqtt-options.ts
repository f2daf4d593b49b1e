// MQTT client options from the configuration: TLS with client certificates (AWS IoT Core),
// credentials, protocol version.
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';

export type MqttSettings = Config['mqtt'];

function readPem(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError('ERR_CONFIG_READ', `mqtt.tls.${field}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, [
      { field: `mqtt.tls.${field}`, value: file, allowed: 'a readable PEM file' },
    ]);
  }
}

export function baseClientOptions(mqtt: MqttSettings, clientId: string, protocolVersion: 4 | 5): IClientOptions {
  const opts: IClientOptions = {
    clientId,
    protocolVersion,
    keepalive: mqtt.keepaliveSec,
    connectTimeout: 10_000,
    reconnectPeriod: 1000,
    resubscribe: true,
  };
  if (mqtt.username !== undefined) opts.username = mqtt.username;
  if (mqtt.password !== undefined) opts.password = mqtt.password;
  if (mqtt.tls.caFile) opts.ca = readPem(mqtt.tls.caFile, 'caFile');
  if (mqtt.tls.certFile) opts.cert = readPem(mqtt.tls.certFile, 'certFile');
  if (mqtt.tls.keyFile) opts.key = readPem(mqtt.tls.keyFile, 'keyFile');
  opts.rejectUnauthorized = mqtt.tls.rejectUnauthorized;
  return opts;
}

/** CONNACK codes that mean "this broker does not speak MQTT 5": 3.1.1's 1, MQTT 5's 0x84. */
export function isUnsupportedProtocol(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 1 || code === 132;
}
