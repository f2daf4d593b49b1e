// Mutual TLS with client certificates, as AWS IoT Core requires, against mosquitto.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../ts/config/config-store.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import { FleetClient } from '../../ts/remote/fleet-client.js';
import { startBroker } from './fixtures/broker.js';
import { makeCerts } from './fixtures/certs.js';
import { MemoryController } from './fixtures/memory-controller.js';

t.test('device and fleet client connect with client certificates; without one the broker refuses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-tls-'));
  chmodSync(dir, 0o755);
  const certs = makeCerts(dir);
  for (const k of [certs.serverKey, certs.clientKey]) chmodSync(k, 0o644);
  const broker = await startBroker(undefined, { caFile: certs.ca, certFile: certs.serverCert, keyFile: certs.serverKey });
  t.teardown(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  t.match(broker.url, /^mqtts:/);
  const store = new ConfigStore(join(dir, 'c.json'), { allowMissing: true, env: {} });
  store.save({
    deviceId: 'tls-dev',
    mqtt: { enabled: true, url: broker.url, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } },
  });
  const remote = new RemoteControl({ deviceId: 'tls-dev', mqtt: store.config.mqtt, controller: new MemoryController(store) });
  t.teardown(() => remote.stop());
  await remote.start(15_000);
  t.ok(remote.connected, 'device connected over mutual TLS');
  const fleet = await FleetClient.connect({
    url: broker.url,
    ca: readFileSync(certs.ca),
    cert: readFileSync(certs.clientCert),
    key: readFileSync(certs.clientKey),
  });
  t.teardown(() => fleet.close());
  t.match(await fleet.send('tls-dev', 'ping'), { pong: true }, 'command round trip over TLS');
  t.match(await fleet.status('tls-dev'), { online: true, deviceId: 'tls-dev' }, 'retained status read over TLS');
  await t.rejects(FleetClient.connect({ url: broker.url, ca: readFileSync(certs.ca), connectTimeoutMs: 5000 }), { code: 'ERR_MQTT_CONNECT' }, 'no client certificate: refused');
});
