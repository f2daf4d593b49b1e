import t from 'tap';
import {
  ControlPlane,
  IotCredentialsProvider,
  KvsError,
  SignalingClient,
  StaticCredentialsProvider,
  createChannelSignaling,
  type SessionDescription,
} from '../../ts/kvs/index.js';
import { createTestPki, startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { request as httpsRequest } from 'node:https';
import { FreezableProxy, next, ourClient, waitFor } from './helpers.js';

const BACKOFF = { initialMs: 50, maxMs: 400 };
type Test = Parameters<Parameters<typeof t.test>[1]>[0];
type ServiceOptions = Parameters<typeof startLocalService>[0];

/** A local service with the channel 'cam' (no STUN/TURN unless asked), closed at teardown. */
async function service(t: Test, opts: ServiceOptions = {}): Promise<LocalKvsService> {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['cam'], closeGraceMs: 50, ...opts });
  t.teardown(() => svc.close());
  return svc;
}

/** Our signaling client on 'cam' (through its control plane), closed at teardown. */
async function client(t: Test, svc: LocalKvsService, role: 'MASTER' | 'VIEWER', clientId?: string, extra: Parameters<typeof ourClient>[4] = {}): Promise<{ client: SignalingClient; cp: ControlPlane }> {
  const c = await ourClient(svc, 'cam', role, clientId, extra);
  t.teardown(() => {
    c.client.close();
    c.cp.close();
  });
  return c;
}

t.test('service killed and restarted: the master is back within the backoff bound, a new viewer connects', async (t) => {
  const svc = await service(t);
  const { client: master } = await client(t, svc, 'MASTER', undefined, { backoff: BACKOFF });
  const delays: number[] = [];
  master.on('reconnecting', (i) => delays.push(i.delayMs));
  master.on('sdpOffer', (o: SessionDescription, from: string) => master.sendSdpAnswer({ type: 'answer', sdp: `ans:${o.sdp}` }, from));
  await master.open();

  const down = next(master, 'disconnected');
  await svc.kill(); // no GO_AWAY: a crash
  await down;
  t.ok(await waitFor(() => delays.length >= 4), 'the master keeps retrying while the service is down');
  const svc2 = await service(t, { port: svc.port, credentials: svc.credentials });
  const [info] = await next<[{ reconnect: boolean }]>(master, 'open');
  t.equal(info.reconnect, true);
  t.ok(delays.every((d) => d <= BACKOFF.maxMs), `every retry delay within the ${BACKOFF.maxMs} ms bound (${delays.join(',')})`);
  t.equal(master.state, 'open');
  t.same(svc2.peers('cam').master, true, 'the restarted service sees the master');

  const { client: viewer } = await client(t, svc2, 'VIEWER', 'after-restart');
  await viewer.open();
  const answer = next<[SessionDescription]>(viewer, 'sdpAnswer');
  viewer.sendSdpOffer({ type: 'offer', sdp: 'o' });
  t.same((await answer)[0], { type: 'answer', sdp: 'ans:o' }, 'the new viewer is answered by the reconnected master');
});

t.test('GO_AWAY: make-before-break reconnect, no disconnect seen, messages keep flowing', async (t) => {
  const svc = await service(t);
  const { client: master } = await client(t, svc, 'MASTER');
  const { client: viewer } = await client(t, svc, 'VIEWER', 'v1');
  await master.open();
  await viewer.open();
  let disconnects = 0;
  master.on('disconnected', () => disconnects++);
  viewer.on('disconnected', () => disconnects++);
  const mOpen = next<[{ reason: string }]>(master, 'open');
  const vOpen = next<[{ reason: string }]>(viewer, 'open');
  const gone = next(master, 'goAway');
  t.equal(svc.goAway('cam'), 2, 'GO_AWAY sent to master and viewer');
  await gone;
  t.equal((await mOpen)[0].reason, 'GO_AWAY');
  t.equal((await vOpen)[0].reason, 'GO_AWAY');
  t.equal(disconnects, 0, 'neither side went through a disconnected state');
  master.on('sdpOffer', (o: SessionDescription, from: string) => master.sendSdpAnswer({ type: 'answer', sdp: o.sdp }, from));
  const ans = next<[SessionDescription]>(viewer, 'sdpAnswer');
  viewer.sendSdpOffer({ type: 'offer', sdp: 'after-go-away' });
  t.equal((await ans)[0].sdp, 'after-go-away');
  t.same(svc.peers('cam'), { master: true, viewers: ['v1'] });
});

t.test('proactive reconnect before the connection age limit', async (t) => {
  const svc = await service(t, { maxConnectionMs: 1500 });
  const { client: master } = await client(t, svc, 'MASTER', undefined, { maxConnectionMs: 1500, reconnectMarginMs: 700 });
  let disconnects = 0;
  master.on('disconnected', () => disconnects++);
  await master.open();
  const [info] = await next<[{ reason: string }]>(master, 'open');
  t.equal(info.reason, 'connection age limit');
  t.equal(disconnects, 0, 'the client moved before the service cut it');
});

t.test('RECONNECT_ICE_SERVER refreshes the ICE servers; STATUS_RESPONSE surfaces as an event', async (t) => {
  const svc = await service(t, { stun: true });
  const { cp, client: master } = await client(t, svc, 'MASTER');
  await master.open();
  const first = await cp.getIceServers('MASTER');
  t.same(first, [{ urls: [svc.stunUrl] }]);
  const refreshed = next(cp, 'iceServers');
  const evt = next(master, 'reconnectIceServer');
  svc.reconnectIceServer('cam');
  await evt;
  await refreshed;
  t.pass('ICE servers fetched again after RECONNECT_ICE_SERVER');

  const status = next<[{ correlationId: string; errorType: string; description: string }]>(master, 'statusResponse');
  master.sendSdpAnswer({ type: 'answer', sdp: 'x' }, 'nobody', 'corr-1');
  const [s] = await status;
  t.equal(s.correlationId, 'corr-1');
  t.equal(s.errorType, 'InvalidArgumentException');
  t.match(s.description, /nobody is not connected/);
});

t.test('wrong secret: one clear authentication error, no retry loop', async (t) => {
  const svc = await service(t);
  let refused = 0;
  svc.on('rejected', (what, status) => {
    if (what === 'connect' && status === 403) refused++;
  });
  const client = new SignalingClient({
    role: 'MASTER',
    region: svc.region,
    channelArn: svc.channelArn('cam'),
    resolveEndpoint: async () => svc.wssEndpoint,
    credentials: new StaticCredentialsProvider({ accessKeyId: svc.credentials.accessKeyId, secretAccessKey: 'wrong-secret' }),
    backoff: { initialMs: 10, maxMs: 20 },
  });
  const errors: KvsError[] = [];
  client.on('error', (e) => errors.push(e));
  await t.rejects(client.open(), { code: 'ERR_KVS_AUTH', awsCode: 'InvalidSignatureException', message: /refused the credentials/ });
  await new Promise((r) => setTimeout(r, 300)); // ample time for a retry loop at 10-20 ms to show
  t.equal(refused, 1, 'exactly one attempt reached the service');
  t.equal(errors.length, 1);
  t.equal(client.state, 'closed');

  const cp = new ControlPlane({
    region: svc.region,
    channelName: 'cam',
    endpoint: svc.endpoint,
    credentials: new StaticCredentialsProvider({ accessKeyId: svc.credentials.accessKeyId, secretAccessKey: 'wrong-secret' }),
  });
  t.teardown(() => cp.close());
  await t.rejects(cp.getEndpoints('MASTER'), { code: 'ERR_KVS_AUTH', awsCode: 'InvalidSignatureException' });
});

t.test('clock skew: the service runs 2 hours ahead; both the control plane and signaling correct and connect', async (t) => {
  const svc = await service(t, { clockOffsetMs: 2 * 3_600_000 });
  const credentials = new StaticCredentialsProvider(svc.credentials);
  const cp = new ControlPlane({ region: svc.region, channelName: 'cam', endpoint: svc.endpoint, credentials });
  t.teardown(() => cp.close());
  const master = await createChannelSignaling({ controlPlane: cp, credentials, role: 'MASTER', backoff: BACKOFF });
  t.teardown(() => master.close());
  await cp.getEndpoints('MASTER');
  t.ok(Math.abs(cp.clock.skewMs - 2 * 3_600_000) < 10_000, `control plane learned the skew (${cp.clock.skewMs} ms)`);
  cp.clock.setOffsetMs(0); // forget it: signaling must learn it by itself
  await master.open();
  t.ok(Math.abs(cp.clock.skewMs - 2 * 3_600_000) < 10_000, `signaling corrected the clock from the 403's Date header`);
});

t.test('IoT credentials expiring mid-session are refreshed with no failed call', async (t) => {
  const svc = await startLocalService({
    turn: false,
    channels: ['cam'],
    closeGraceMs: 50,
    iot: { roleAliases: ['kvs-camera-role'], credentialTtlSec: 4 },
  });
  t.teardown(() => svc.close());
  let issued = 0;
  svc.on('rejected', (what, status, code) => t.fail(`service refused ${what}: ${status} ${code}`));
  const device = svc.issueDeviceCertificate('camera-0001');
  const credentials = new IotCredentialsProvider({
    endpoint: svc.iotEndpoint ?? '',
    roleAlias: 'kvs-camera-role',
    thingName: 'camera-0001',
    cert: device.cert,
    key: device.key,
    ca: device.ca,
    refreshMarginMs: 2_000,
  });
  const origGet = credentials.getCredentials.bind(credentials);
  const seenKeys = new Set<string>();
  credentials.getCredentials = async (o) => {
    const c = await origGet(o);
    if (!seenKeys.has(c.accessKeyId)) issued++;
    seenKeys.add(c.accessKeyId);
    return c;
  };
  const cp = new ControlPlane({ region: svc.region, channelName: 'cam', endpoint: svc.endpoint, credentials, maxAttempts: 1 });
  t.teardown(() => cp.close());
  const master = await createChannelSignaling({ controlPlane: cp, credentials, role: 'MASTER', backoff: BACKOFF });
  t.teardown(() => master.close());
  const errors: KvsError[] = [];
  master.on('error', (e) => errors.push(e));
  await master.open();
  let calls = 0;
  const end = Date.now() + 7_000;
  while (Date.now() < end) {
    await cp.getIceServers('MASTER', undefined, { forceRefresh: true });
    calls++;
    if (calls % 4 === 0) {
      const reopened = next(master, 'open');
      master.reconnect('test');
      await reopened;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(calls >= 10, `${calls} calls made across the credential lifetime`);
  t.ok(issued >= 2, `credentials were refreshed (${issued} sets used)`);
  t.same(errors, [], 'no error reached the user');
  t.equal(master.state, 'open');

  const wrongThing = new IotCredentialsProvider({
    endpoint: svc.iotEndpoint ?? '',
    roleAlias: 'kvs-camera-role',
    thingName: 'someone-else',
    cert: device.cert,
    key: device.key,
    ca: device.ca,
  });
  svc.removeAllListeners('rejected');
  await t.rejects(wrongThing.getCredentials(), { code: 'ERR_KVS_AUTH', message: /403/ });
  const noAlias = new IotCredentialsProvider({
    endpoint: svc.iotEndpoint ?? '',
    roleAlias: 'missing',
    thingName: 'camera-0001',
    cert: device.cert,
    key: device.key,
    ca: device.ca,
  });
  await t.rejects(noAlias.getCredentials(), { code: 'ERR_KVS_CREDENTIALS', message: /404/ });

  // mutual TLS is enforced: a certificate from another CA, or none, gets no credentials
  const foreign = createTestPki().issueClient('camera-0001');
  const impostor = new IotCredentialsProvider({
    endpoint: svc.iotEndpoint ?? '',
    roleAlias: 'kvs-camera-role',
    thingName: 'camera-0001',
    cert: foreign.cert,
    key: foreign.key,
    ca: device.ca,
  });
  await t.rejects(impostor.getCredentials(), { code: 'ERR_KVS_CREDENTIALS' }, 'a certificate of another CA is refused in the TLS handshake');
  const res = await new Promise<number | string>((resolve) => {
    const req = httpsRequest(`${svc.iotEndpoint ?? ''}/role-aliases/kvs-camera-role/credentials`, { ca: device.ca, headers: { 'x-amzn-iot-thingname': 'camera-0001' } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
  t.not(res, 200, `no client certificate, no credentials (${res})`);
});

t.test('keepalive: pings keep an idle signaling connection open past the idle timeout', async (t) => {
  const svc = await service(t, { idleTimeoutMs: 300 });
  const { client: master } = await client(t, svc, 'MASTER', undefined, { pingIntervalMs: 100, pongTimeoutMs: 1000 });
  let disconnects = 0;
  master.on('disconnected', () => disconnects++);
  await master.open();
  await new Promise((r) => setTimeout(r, 1200));
  t.equal(disconnects, 0, 'no idle disconnect over 4 idle timeouts');
  t.equal(master.state, 'open');
});

t.test('network loss without a close (half-open TCP): the pong timeout notices and the client comes back', async (t) => {
  const svc = await service(t);
  const proxy = new FreezableProxy(svc.port);
  await proxy.start();
  t.teardown(() => proxy.close());
  const credentials = new StaticCredentialsProvider(svc.credentials);
  const master = new SignalingClient({
    role: 'MASTER',
    region: svc.region,
    channelArn: svc.channelArn('cam'),
    // the proxy's port in the URL; the service verifies Host as signed, so sign for the proxy
    resolveEndpoint: async () => `ws://127.0.0.1:${proxy.port}`,
    credentials,
    pingIntervalMs: 100,
    pongTimeoutMs: 300,
    openTimeoutMs: 500,
    backoff: BACKOFF,
  });
  t.teardown(() => master.close());
  await master.open();
  const lost = next<[{ code: number }]>(master, 'disconnected');
  proxy.freeze();
  const [info] = await lost;
  t.equal(info.code, 1006, 'the dead connection was dropped by the keepalive');
  const back = next<[{ reconnect: boolean }]>(master, 'open');
  proxy.thaw();
  t.equal((await back)[0].reconnect, true, 'reconnected once the network returned');
  t.same(svc.peers('cam').master, true);
});

t.test('a camera that starts before the service: open() waits, retrying with backoff, and connects when it appears', async (t) => {
  const probe = await startLocalService({ turn: false, stun: false });
  const port = probe.port;
  const credentialsPair = probe.credentials;
  const endpoint = probe.endpoint;
  await probe.kill();
  const credentials = new StaticCredentialsProvider(credentialsPair);
  const cp = new ControlPlane({ region: 'us-west-2', channelName: 'cam', endpoint, credentials, maxAttempts: 1 });
  const master = await createChannelSignaling({ controlPlane: cp, credentials, role: 'MASTER', backoff: BACKOFF });
  t.teardown(() => {
    master.close();
    cp.close();
  });
  const attempts: string[] = [];
  master.on('reconnecting', (i) => attempts.push(i.error?.code ?? ''));
  const opened = master.open();
  t.ok(await waitFor(() => attempts.length >= 3), `retrying while nothing listens (${attempts.join(',')})`);
  const svc = await service(t, { port, credentials: credentialsPair });
  await opened;
  t.equal(master.state, 'open');
  t.same(svc.peers('cam').master, true);
});

t.test('credentials that cannot be loaded yet (IoT endpoint down at boot) are retried, not fatal', async (t) => {
  const svc = await service(t);
  let calls = 0;
  const flaky = {
    async getCredentials() {
      calls++;
      if (calls <= 2) throw new KvsError('ERR_KVS_CREDENTIALS', 'IoT credentials provider 127.0.0.1:1: connect ECONNREFUSED');
      return svc.credentials;
    },
  };
  const master = new SignalingClient({
    role: 'MASTER',
    region: svc.region,
    channelArn: svc.channelArn('cam'),
    resolveEndpoint: async () => svc.wssEndpoint,
    credentials: flaky,
    backoff: BACKOFF,
  });
  t.teardown(() => master.close());
  const codes: string[] = [];
  master.on('reconnecting', (i) => codes.push(i.error?.code ?? ''));
  await master.open();
  t.same(codes, ['ERR_KVS_CREDENTIALS', 'ERR_KVS_CREDENTIALS']);
  t.equal(master.state, 'open');
});
