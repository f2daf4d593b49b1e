// kill -9 during 200 configuration writes never leaves a corrupt or half-written file.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigStore } from '../../ts/config/config-store.js';
import { versionDoc } from './fixtures/writer.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 6;

t.test('SIGKILL at random points during 200 writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  const expected = new Map<string, Record<string, unknown>>();
  for (let i = 0; i < 200; i++) expected.set(`ch-${i}`, versionDoc(i));

  for (let round = 0; round < ROUNDS; round++) {
    // Kill after a different number of completed writes each round (spread over 1..190).
    const killAfter = 1 + Math.floor(((round + Math.random()) / ROUNDS) * 189);
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'writer.ts'), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    let lines = 0;
    let killed = false;
    child.stdout.on('data', (b: Buffer) => {
      lines += b.toString().split('\n').length - 1;
      if (!killed && lines >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    const { signal } = await exit;
    t.equal(signal, 'SIGKILL', `round ${round}: writer killed after ${lines} writes`);

    // Whatever the kill interrupted, the file is one complete version.
    const text = readFileSync(file, 'utf8');
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      t.fail(`round ${round}: config file is not valid JSON: ${text.slice(0, 200)}`);
      continue;
    }
    const name = (doc['channel'] as { name?: string } | undefined)?.name ?? '';
    const want = expected.get(name);
    t.ok(want, `round ${round}: file holds a written version (${name})`);
    t.same(doc, want, `round ${round}: version ${name} is complete`);
    const lastGood = JSON.parse(readFileSync(`${file}.last-good`, 'utf8')) as Record<string, unknown>;
    t.ok(expected.has((lastGood['channel'] as { name: string }).name), `round ${round}: last-good copy is a complete version`);
    // Opening the store validates the file and removes temp files the killed writer left. If the
    // kill landed while a change was being applied, it goes back to the last-known-good version.
    const lastGoodName = (lastGood['channel'] as { name: string }).name;
    const store = new ConfigStore(file, { env: {} });
    t.ok([name, lastGoodName].includes(store.config.channel.name), `round ${round}: store loads it or its last-known-good`);
    t.same(JSON.parse(readFileSync(file, 'utf8')), expected.get(store.config.channel.name), `round ${round}: file matches what the store runs`);
    t.same(readdirSync(dir).filter((n) => n.includes('.tmp-') || n.endsWith('.pending')), [], `round ${round}: no temp or pending files left after reopening`);
  }
});

t.test('killed while applying a change: the next start runs the previous version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-hang-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'hang-apply.ts'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exit = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('hang-apply child never started applying')), 60_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('applying')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill('SIGKILL');
  await exit;
  t.match(JSON.parse(readFileSync(file, 'utf8')), { channel: { name: 'unconfirmed' } }, 'the unconfirmed change is on disk');
  const store = new ConfigStore(file, { env: {} });
  t.equal(store.config.channel.name, 'confirmed', 'restarted on the last confirmed version');
  t.equal(store.recoveredFrom?.code, 'ERR_CONFIG_UNCONFIRMED', 'and says why');
  t.match(JSON.parse(readFileSync(file, 'utf8')), { channel: { name: 'confirmed' } }, 'file restored');
  t.equal(new ConfigStore(file, { env: {} }).recoveredFrom, undefined, 'the next start is normal');
});
