// protocol 'auto': MQTT 5 first, 3.1.1 when the broker refuses 5.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../ts/config/config-store.js';
import { RemoteControl } from '../../ts/remote/remote-control.js';
import { MemoryController } from './fixtures/memory-controller.js';
import { startOldBroker } from './fixtures/old-broker.js';

t.test('falls back to 3.1.1 against a broker that refuses MQTT 5', async (t) => {
  const broker = await startOldBroker();
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-fallback-'));
  const store = new ConfigStore(join(dir, 'c.json'), { allowMissing: true, env: {} });
  store.save({ deviceId: 'old-dev', mqtt: { enabled: true, url: `mqtt://127.0.0.1:${broker.port}`, protocol: 'auto' } });
  const remote = new RemoteControl({ deviceId: 'old-dev', mqtt: store.config.mqtt, controller: new MemoryController(store) });
  t.teardown(async () => {
    await remote.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await remote.start(15_000);
  t.equal(remote.protocolVersion, 4, 'connected with 3.1.1');
  t.same(broker.connects.slice(0, 2), [5, 4], 'tried 5 first, then 4');
  const until = Date.now() + 10_000;
  while (!broker.published.includes('kvs-edge/old-dev/status') && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  t.ok(broker.published.includes('kvs-edge/old-dev/status'), 'published its status over 3.1.1');
});
