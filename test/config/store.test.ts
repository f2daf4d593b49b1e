// ConfigStore: apply, roll back, last-known-good.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../ts/config/config-store.js';
import { ConfigError } from '../../ts/config/errors.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'kvs-edge-store-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function rejection(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

t.test('a change is validated, written, applied, and becomes last-known-good', async (t) => {
  const file = join(tmp(t), 'device.yaml');
  writeFileSync(file, '# my camera\ndeviceId: cam-7\nvideo:\n  fps: 20\n');
  const store = new ConfigStore(file, { env: {} });
  const applied: number[] = [];
  let events = 0;
  store.on('applied', () => events++);
  const c = await store.update({ video: { bitrate: { startKbps: 900 } } }, (next) => {
    applied.push(next.video.bitrate.startKbps);
  });
  t.equal(c.video.bitrate.startKbps, 900);
  t.same(applied, [900]);
  t.equal(events, 1);
  const text = readFileSync(file, 'utf8');
  t.match(text, /startKbps: 900/, 'YAML file rewritten as YAML');
  t.match(text, /fps: 20/, 'other fields kept');
  t.notMatch(text, /width/, 'defaults are not written into the file');
  t.match(readFileSync(`${file}.last-good`, 'utf8'), /startKbps: 900/);
});

t.test('an invalid change changes nothing', async (t) => {
  const file = join(tmp(t), 'c.json');
  writeFileSync(file, '{"deviceId":"cam"}');
  const store = new ConfigStore(file, { env: {} });
  let calls = 0;
  const e = await rejection(store.update({ viewers: { max: 99 } }, () => void calls++));
  t.equal(e.code, 'ERR_CONFIG_INVALID');
  t.match(e.message, /viewers\.max: got 99/);
  t.equal(calls, 0, 'apply not called');
  t.equal(readFileSync(file, 'utf8'), '{"deviceId":"cam"}', 'file untouched');
  t.notOk(existsSync(`${file}.last-good`), 'no last-good written for a rejected change');
});

t.test('a change that fails to apply is rolled back and reported', async (t) => {
  const file = join(tmp(t), 'c.json');
  writeFileSync(file, '{"deviceId":"cam","video":{"fps":15}}');
  const store = new ConfigStore(file, { env: {} });
  const seen: number[] = [];
  const rolled: string[] = [];
  store.on('rolled-back', (e) => rolled.push(e.error.message));
  const e = await rejection(
    store.update({ video: { fps: 60 } }, (next) => {
      seen.push(next.video.fps);
      if (next.video.fps > 30) throw new Error('sensor tops out at 30 fps');
    }),
  );
  t.equal(e.code, 'ERR_CONFIG_APPLY_FAILED');
  t.match(e.message, /rolled back: sensor tops out at 30 fps/);
  t.same(seen, [60, 15], 'tried the new one, then re-applied the previous one');
  t.same(rolled, ['sensor tops out at 30 fps']);
  t.equal(store.config.video.fps, 15);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { deviceId: 'cam', video: { fps: 15 } }, 'file restored');
});

t.test('rollback() restores the last-known-good copy; a corrupt file can fall back to it', async (t) => {
  const file = join(tmp(t), 'c.json');
  writeFileSync(file, '{"deviceId":"cam"}');
  const store = new ConfigStore(file, { env: {} });
  await store.update({ channel: { name: 'good' } }, () => undefined);
  writeFileSync(file, '{"deviceId": "cam", "channel": {"name": "bad name!"}}');
  const e = (() => {
    try {
      new ConfigStore(file, { env: {} });
    } catch (err) {
      return err as ConfigError;
    }
    return undefined;
  })();
  t.match(e?.message, /channel\.name: got "bad name!"/, 'strict open reports the bad file');
  const recovered = new ConfigStore(file, { env: {}, fallbackToLastGood: true });
  t.equal(recovered.config.channel.name, 'good', 'runs on last-known-good');
  t.equal(recovered.recoveredFrom?.code, 'ERR_CONFIG_INVALID', 'and says why');
  const back = recovered.rollback();
  t.equal(back.channel.name, 'good');
  t.equal(new ConfigStore(file, { env: {} }).config.channel.name, 'good', 'file restored from last-known-good');
});

t.test('updates are serialized', async (t) => {
  const file = join(tmp(t), 'c.json');
  const store = new ConfigStore(file, { env: {}, allowMissing: true });
  const order: number[] = [];
  await Promise.all(
    [1, 2, 3].map((i) =>
      store.update({ viewers: { max: i } }, async (next) => {
        order.push(next.viewers.max);
        await new Promise((r) => setTimeout(r, 5));
        order.push(-next.viewers.max);
      }),
    ),
  );
  t.same(order, [1, -1, 2, -2, 3, -3], 'one apply at a time, in order');
  t.equal(store.config.viewers.max, 3);
});
