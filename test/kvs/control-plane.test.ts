import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, StaticCredentialsProvider, createChannelSignaling, type IceServer } from '../../ts/kvs/index.js';
import { startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { next } from './helpers.js';

function cpFor(svc: LocalKvsService, extra: Partial<ConstructorParameters<typeof ControlPlane>[0]> = {}): ControlPlane {
  return new ControlPlane({
    region: svc.region,
    channelName: 'cam',
    endpoint: svc.endpoint,
    credentials: new StaticCredentialsProvider(svc.credentials),
    maxAttempts: 1,
    ...extra,
  });
}

/** A temporary folder for cache files, removed by the test's teardown. */
function cacheDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A cache file whose entry for `role` points at an endpoint that no longer answers. */
function staleCacheFile(t: Test, svc: LocalKvsService, role: 'MASTER' | 'VIEWER'): string {
  const cacheFile = join(cacheDir(t), 'c.json');
  writeFileSync(
    cacheFile,
    JSON.stringify({
      version: 1,
      entries: { [`${svc.region}/cam/${role}`]: { channelArn: svc.channelArn('cam'), wss: 'ws://127.0.0.1:9', https: 'http://127.0.0.1:9', resolvedAt: Date.now() } },
    }),
  );
  return cacheFile;
}

t.test('create when missing, with TTL and tags; endpoints cached in memory and in a file', async (t) => {
  const svc = await startLocalService({ turn: false, closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const calls: string[] = [];
  svc.on('call', (op) => calls.push(op));
  const cacheFile = join(cacheDir(t), 'signaling-cache.json');

  const strict = cpFor(svc);
  t.teardown(() => strict.close());
  await t.rejects(strict.getChannelArn(), { code: 'ERR_KVS_CHANNEL_NOT_FOUND' }, 'no create unless asked');
  calls.length = 0;

  const cp = cpFor(svc, { createIfMissing: true, messageTtlSeconds: 45, tags: { site: 'lab' }, cacheFile });
  t.teardown(() => cp.close());
  const ep = await cp.getEndpoints('MASTER');
  t.equal(ep.channelArn, svc.channelArn('cam'));
  t.equal(ep.wss, svc.wssEndpoint);
  t.equal(svc.channels.get('cam')?.messageTtlSeconds, 45);
  t.same(svc.channels.get('cam')?.tags, { site: 'lab' });
  t.same(calls, ['/describeSignalingChannel', '/createSignalingChannel', '/getSignalingChannelEndpoint']);

  calls.length = 0;
  await cp.getEndpoints('MASTER');
  t.same(calls, [], 'second lookup from memory');
  const file = JSON.parse(readFileSync(cacheFile, 'utf8')) as { entries: Record<string, { wss: string }> };
  t.equal(file.entries[`${svc.region}/cam/MASTER`]?.wss, svc.wssEndpoint, 'cache file written');

  const cp2 = cpFor(svc, { cacheFile });
  t.teardown(() => cp2.close());
  const fromFile = await cp2.getEndpoints('MASTER');
  t.equal(fromFile.wss, svc.wssEndpoint);
  t.equal(await cp2.getChannelArn(), svc.channelArn('cam'));
  t.same(calls, [], 'a new process reads the cache file instead of calling AWS');

  await cp2.getEndpoints('MASTER', { refresh: true });
  t.same(calls, ['/describeSignalingChannel', '/getSignalingChannelEndpoint'], 'refresh asks AWS again');
});

t.test('a stale cached endpoint is re-resolved when GetIceServerConfig fails there', async (t) => {
  const svc = await startLocalService({ turn: false, channels: ['cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const cacheFile = staleCacheFile(t, svc, 'VIEWER');
  const cp = cpFor(svc, { cacheFile, stunUrls: [] });
  t.teardown(() => cp.close());
  const servers = await cp.getIceServers('VIEWER', 'v1');
  t.same(servers, [{ urls: [svc.stunUrl] }]);
  t.equal((await cp.getEndpoints('VIEWER')).https, svc.endpoint, 'the cache now holds the live endpoint');
});

t.test('ICE servers: regional STUN by default, cached, refreshed before their TTL', async (t) => {
  const svc = await startLocalService({ turn: false, channels: ['cam'], closeGraceMs: 50, turnTtlSec: 2 });
  t.teardown(() => svc.close());
  const aws = new ControlPlane({ region: 'eu-central-1', channelName: 'x', credentials: new StaticCredentialsProvider({ accessKeyId: 'a', secretAccessKey: 'b' }) });
  t.same(aws.stunUrls, ['stun:stun.kinesisvideo.eu-central-1.amazonaws.com:443']);
  aws.close();

  const cp = cpFor(svc, { autoRefreshIceServers: true, iceRefreshMarginMs: 1000 });
  t.teardown(() => cp.close());
  const calls: string[] = [];
  svc.on('call', (op) => calls.push(op));
  const first = await cp.getIceServers('MASTER');
  await cp.getIceServers('MASTER');
  t.equal(calls.filter((c) => c === '/v1/get-ice-server-config').length, 1, 'cached within the TTL');
  const [role, servers] = await next<[string, IceServer[]]>(cp, 'iceServers', 10_000);
  t.equal(role, 'MASTER');
  t.same(servers, first);
  t.equal(calls.filter((c) => c === '/v1/get-ice-server-config').length, 2, 'fetched again before the 2 s TTL ran out');
});

t.test('the STUN responder answers a Binding request with our address (RFC 5389 XOR-MAPPED-ADDRESS)', async (t) => {
  const svc = await startLocalService({ turn: false, closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const port = Number(/:(\d+)$/.exec(svc.stunUrl ?? '')?.[1]);
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(0x2112a442, 4);
  const tid = randomBytes(12);
  tid.copy(req, 8);
  const got = next<[Buffer]>(sock, 'message', 5000);
  sock.send(Buffer.from('garbage'), port, '127.0.0.1'); // ignored, no crash
  sock.send(req, port, '127.0.0.1');
  const [res] = await got;
  t.equal(res.readUInt16BE(0), 0x0101, 'Binding success');
  t.ok(res.subarray(8, 20).equals(tid), 'same transaction id');
  t.equal(res.readUInt16BE(20), 0x0020, 'XOR-MAPPED-ADDRESS first');
  const xport = res.readUInt16BE(26) ^ 0x2112;
  const ip = [0, 1, 2, 3].map((i) => (res[28 + i] ?? 0) ^ [0x21, 0x12, 0xa4, 0x42][i]!).join('.');
  t.equal(ip, '127.0.0.1');
  t.equal(xport, sock.address().port);
  t.equal(res.readUInt16BE(32), 0x8028, 'FINGERPRINT');
});

t.test('signaling re-resolves a stale cached WSS endpoint after failed attempts and connects', async (t) => {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const cacheFile = staleCacheFile(t, svc, 'MASTER');
  const credentials = new StaticCredentialsProvider(svc.credentials);
  const cp = cpFor(svc, { cacheFile });
  const master = await createChannelSignaling({ controlPlane: cp, credentials, role: 'MASTER', backoff: { initialMs: 20, maxMs: 100 } });
  t.teardown(() => {
    master.close();
    cp.close();
  });
  const failures: string[] = [];
  master.on('reconnecting', (i) => failures.push(i.error?.message ?? ''));
  await master.open();
  t.ok(failures.length >= 2 && failures.every((m) => /127\.0\.0\.1:9/.test(m)), `failed at the stale endpoint first (${failures.length})`);
  t.equal((await cp.getEndpoints('MASTER')).wss, svc.wssEndpoint, 'the cache now holds the live endpoint');
  t.match(readFileSync(cacheFile, 'utf8'), svc.wssEndpoint, 'and so does the file');
});

t.test('an unwritable cache file does not fail the call, and an error with no listener does not throw', async (t) => {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const dir = cacheDir(t);
  writeFileSync(join(dir, 'a-file'), '');
  // a directory that cannot exist: its parent is a regular file (ENOTDIR)
  const cp = cpFor(svc, { cacheFile: join(dir, 'a-file', 'sub', 'cache.json') });
  t.teardown(() => cp.close());
  const ep = await cp.getEndpoints('MASTER');
  t.equal(ep.wss, svc.wssEndpoint);
  const seen: string[] = [];
  cp.on('error', (e) => seen.push(e.code));
  await cp.getEndpoints('MASTER', { refresh: true });
  t.same(seen, ['ERR_KVS_CONTROL_PLANE'], 'reported to a listener when there is one');
});
