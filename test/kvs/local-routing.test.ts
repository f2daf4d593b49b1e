import t from 'tap';
import { WebSocket } from 'ws';
import { describeProtocolError, startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import { b64, next, rawConnect, waitFor } from './helpers.js';

async function service(t: Tap.Test | { teardown: (f: () => unknown) => void }, extra = {}): Promise<LocalKvsService> {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['ch'], closeGraceMs: 50, ...extra });
  t.teardown(() => svc.close());
  return svc;
}

const inbox = new WeakMap<WebSocket, Array<Record<string, unknown>>>();

async function open(svc: LocalKvsService, clientId?: string, protocols?: string[]): Promise<WebSocket> {
  const r = await rawConnect(svc, { channel: 'ch', ...(clientId ? { clientId } : {}), ...(protocols ? { protocols } : {}) });
  if (!r.ws) throw new Error(`connect ${clientId ?? 'master'} failed: ${r.status} ${r.errorType} ${r.body}`);
  inbox.set(r.ws, r.frames);
  return r.ws;
}

/** Frames received by a socket from `open` (collected from its first frame). */
function framesOf(ws: WebSocket): Array<Record<string, unknown>> {
  return inbox.get(ws) ?? [];
}

t.test('presigned upgrade: bad, expired, missing signatures are 403 with the AWS error shape; 7-day expiry accepted', async (t) => {
  const svc = await service(t);
  const wrong = await rawConnect(svc, { channel: 'ch', credentials: { accessKeyId: svc.credentials.accessKeyId, secretAccessKey: 'nope' } });
  t.equal(wrong.status, 403);
  t.equal(wrong.errorType, 'InvalidSignatureException');
  t.match(JSON.parse(wrong.body ?? '{}'), { message: /signature we calculated does not match/ });

  const tampered = await rawConnect(svc, { channel: 'ch', clientId: 'v1', mutateUrl: (u) => u.replace('X-Amz-ClientId=v1', 'X-Amz-ClientId=v2') });
  t.equal(tampered.status, 403, 'changing a signed query parameter breaks the signature');

  const expired = await rawConnect(svc, { channel: 'ch', signingDate: new Date(Date.now() - 600_000), expiresInSec: 299 });
  t.equal(expired.status, 403);
  t.match(expired.body, /Signature expired/);

  const week = await rawConnect(svc, { channel: 'ch', signingDate: new Date(Date.now() - 6 * 86_400_000), expiresInSec: 604_800 });
  t.ok(week.ws, 'X-Amz-Expires=604800 (the C SDK) signed 6 days ago is accepted');
  week.ws?.close();

  const tooLong = await rawConnect(svc, {
    channel: 'ch',
    expiresInSec: 604_800,
    mutateUrl: (u) => u.replace('X-Amz-Expires=604800', 'X-Amz-Expires=604801'),
  });
  t.equal(tooLong.status, 403);
  t.equal(tooLong.errorType, 'AuthorizationQueryParametersError');

  const missing = await rawConnect(svc, { channel: 'ch', mutateUrl: (u) => u.split('?')[0] ?? u });
  t.equal(missing.status, 403);
  t.equal(missing.errorType, 'MissingAuthenticationTokenException');

  const noChannel = await rawConnect(svc, { channel: 'other' });
  t.equal(noChannel.status, 404);
  t.equal(noChannel.errorType, 'ResourceNotFoundException');

  const sub = await rawConnect(svc, { channel: 'ch', protocols: ['wss'] });
  t.equal(sub.protocol, 'wss', 'the C SDK subprotocol "wss" is accepted');
  sub.ws?.close();
});

t.test('routing: PascalCase keys, viewers isolated, STATUS_RESPONSE only with correlationId, 10 KB limit, bad frames', async (t) => {
  const svc = await service(t);
  const errors: string[] = [];
  svc.on('protocolError', (_p, _type, description) => errors.push(description));
  const master = await open(svc);
  const mIn = framesOf(master);
  const v1 = await open(svc, 'v1');
  const v1In = framesOf(v1);
  const v2 = await open(svc, 'v2');
  const v2In = framesOf(v2);
  t.teardown(() => [master, v1, v2].forEach((w) => w.terminate()));

  // C SDK style: PascalCase keys
  v1.send(JSON.stringify({ action: 'SDP_OFFER', MessagePayload: b64({ type: 'offer', sdp: 'o1' }), CorrelationId: 'c-1' }));
  t.ok(await waitFor(() => mIn.length === 1), 'master got the offer');
  t.match(mIn[0], { senderClientId: 'v1', messageType: 'SDP_OFFER', messagePayload: b64({ type: 'offer', sdp: 'o1' }) });

  master.send(JSON.stringify({ Action: 'SDP_ANSWER', RecipientClientId: 'v1', MessagePayload: b64({ type: 'answer', sdp: 'a1' }) }));
  t.ok(await waitFor(() => v1In.length === 1), 'v1 got the answer');
  t.match(v1In[0], { messageType: 'SDP_ANSWER' });

  // a viewer cannot reach another viewer: its recipientClientId is ignored (AWS documents it),
  // the message goes to the master
  v1.send(JSON.stringify({ action: 'ICE_CANDIDATE', recipientClientId: 'v2', messagePayload: b64({ candidate: 'x' }), correlationId: 'c-2' }));
  t.ok(await waitFor(() => mIn.length === 2), 'the candidate named for v2 reached the master');
  t.match(mIn[1], { senderClientId: 'v1', messageType: 'ICE_CANDIDATE', messagePayload: b64({ candidate: 'x' }) });
  t.equal(v2In.length, 0, 'v2 got nothing');

  // master to an unknown recipient
  master.send(JSON.stringify({ action: 'SDP_ANSWER', recipientClientId: 'ghost', messagePayload: b64({ sdp: 'x' }), correlationId: 'c-3' }));
  t.ok(await waitFor(() => mIn.length === 3));
  t.match(mIn[2], { messageType: 'STATUS_RESPONSE', statusResponse: { correlationId: 'c-3', description: /ghost is not connected/ } });

  // payload over 10 KB
  const big = Buffer.alloc(11 * 1024, 'a').toString('base64');
  v1.send(JSON.stringify({ action: 'SDP_OFFER', messagePayload: big, correlationId: 'c-4' }));
  t.ok(await waitFor(() => v1In.length === 2));
  t.match(v1In[1], { statusResponse: { correlationId: 'c-4', description: /more than the limit of 10240/ } });

  // unknown action with and without correlation id; non-JSON; binary
  v2.send(JSON.stringify({ action: 'HELLO', messagePayload: b64({}), correlationId: 'c-5' }));
  v2.send(JSON.stringify({ action: 'HELLO', messagePayload: b64({}) }));
  v2.send('this is not json');
  v2.send(Buffer.from([1, 2, 3]), { binary: true });
  t.ok(await waitFor(() => errors.length >= 6), 'every bad frame was noticed');
  t.equal(v2In.length, 1, 'only the message with a correlationId got a STATUS_RESPONSE');
  t.match(v2In[0], { messageType: 'STATUS_RESPONSE', statusResponse: { correlationId: 'c-5', description: /unknown action/ } });
  t.ok(errors.some((e) => /not JSON/.test(e)));

  // everyone is still connected and routing still works
  v2.send(JSON.stringify({ action: 'SDP_OFFER', messagePayload: b64({ type: 'offer', sdp: 'o2' }) }));
  t.ok(await waitFor(() => mIn.some((m) => m['senderClientId'] === 'v2')), 'v2 still reaches the master');
  t.equal(v1In.filter((m) => m['messageType'] !== 'STATUS_RESPONSE').length, 1, 'v1 never saw v2 traffic');
  t.same(svc.peers('ch'), { master: true, viewers: ['v1', 'v2'] });
});

/** A message as the official C SDK (v1.12.1) writes it: tab-indented, PascalCase, `action` lower-case. */
function cSdkMessage(action: string, recipient: string, payload: object, correlationId?: string, iceServers?: object[]): string {
  let text = `{\n\t"action": "${action}",\n\t"RecipientClientId": "${recipient}",\n\t"MessagePayload": "${b64(payload)}"`;
  if (correlationId !== undefined) text += `,\n\t"CorrelationId": "${correlationId}"`;
  if (iceServers) text += `,\n\t"IceServerList": ${JSON.stringify(iceServers)}`;
  return `${text}\n}`;
}

t.test('the official C SDK wire format: viewer names "ProducerMaster", IceServerList in offers, its correlation ids; drops are answered and logged', async (t) => {
  const svc = await service(t);
  const drops: string[] = [];
  const statusSent: boolean[] = [];
  svc.on('protocolError', (p, type, description, sent) => {
    drops.push(describeProtocolError(p, type, description, sent));
    statusSent.push(sent);
  });
  const master = await open(svc, undefined, ['wss']);
  t.equal(master.protocol, 'wss', 'master: subprotocol wss');
  const mIn = framesOf(master);
  const viewer = await open(svc, 'ConsumerViewer', ['wss']);
  const vIn = framesOf(viewer);
  t.teardown(() => [master, viewer].forEach((w) => w.terminate()));

  const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
  const iceServers = [{ urls: 'turns:example:443?transport=tcp', username: 'u', credential: 'p', ttl: 300 }];
  viewer.send(cSdkMessage('SDP_OFFER', 'ProducerMaster', offer, undefined, iceServers));
  viewer.send(cSdkMessage('ICE_CANDIDATE', 'ProducerMaster', { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }, '17962845043622206_0'));
  t.ok(await waitFor(() => mIn.length === 2), 'the master got the offer and the candidate');
  t.same(mIn[0], { senderClientId: 'ConsumerViewer', messageType: 'SDP_OFFER', messagePayload: b64(offer) });
  t.match(mIn[1], { senderClientId: 'ConsumerViewer', messageType: 'ICE_CANDIDATE' });
  t.equal(vIn.length, 0, 'no STATUS_RESPONSE for delivered messages');

  master.send(cSdkMessage('SDP_ANSWER', 'ConsumerViewer', { type: 'answer', sdp: 'v=0\r\n' }, '17962845043622207_1'));
  t.ok(await waitFor(() => vIn.length === 1), 'the viewer got the answer');
  t.same(vIn[0], { senderClientId: '', messageType: 'SDP_ANSWER', messagePayload: b64({ type: 'answer', sdp: 'v=0\r\n' }) });
  t.same(drops, [], 'nothing was dropped');

  // the master leaves; the channel keeps no messages (TTL 0): the viewer's next messages are dropped
  svc.createChannel('nottl', 0);
  const lone = await rawConnect(svc, { channel: 'nottl', clientId: 'ConsumerViewer', protocols: ['wss'] });
  if (!lone.ws) throw new Error('viewer on nottl did not connect');
  t.teardown(() => lone.ws?.terminate());
  lone.ws.send(cSdkMessage('ICE_CANDIDATE', 'ProducerMaster', { candidate: 'c' }, '17962845043622206_2'));
  lone.ws.send(cSdkMessage('ICE_CANDIDATE', 'ProducerMaster', { candidate: 'c' }));
  t.ok(await waitFor(() => drops.length === 2), 'both drops were reported');
  t.ok(await waitFor(() => lone.frames.length === 1), 'the message with a correlation id got a STATUS_RESPONSE');
  t.same(lone.frames[0], {
    senderClientId: '',
    messageType: 'STATUS_RESPONSE',
    messagePayload: '',
    statusResponse: {
      correlationId: '17962845043622206_2',
      errorType: 'InvalidArgumentException',
      statusCode: '400',
      description: 'ICE_CANDIDATE dropped: the master is not connected',
    },
  }, 'the documented STATUS_RESPONSE shape, nothing more');
  t.same(statusSent, [true, false]);
  t.match(drops[0], /viewer ConsumerViewer .*nottl.* ICE_CANDIDATE dropped: the master is not connected \(InvalidArgumentException; STATUS_RESPONSE sent\)/);
  t.match(drops[1], /no correlationId, no STATUS_RESPONSE/);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(lone.frames.length, 1, 'no STATUS_RESPONSE without a correlation id');
});

t.test('limits: 10 viewers, the 11th refused with ClientLimitExceeded; a new master replaces the old', async (t) => {
  const svc = await service(t);
  const sockets: WebSocket[] = [];
  t.teardown(() => sockets.forEach((w) => w.terminate()));
  for (let i = 0; i < 10; i++) sockets.push(await open(svc, `viewer-${i}`));
  const eleventh = await rawConnect(svc, { channel: 'ch', clientId: 'viewer-10' });
  t.equal(eleventh.status, 400);
  t.equal(eleventh.errorType, 'ClientLimitExceededException');
  t.match(eleventh.body, /ClientLimitExceeded/);
  const again = await open(svc, 'viewer-3');
  sockets.push(again);
  t.pass('a viewer reconnecting with its own id replaces itself even at the limit');

  const m1 = await open(svc);
  const m1Closed = next<[number, Buffer]>(m1, 'close');
  const m2 = await open(svc);
  sockets.push(m1, m2);
  const [code, reason] = await m1Closed;
  t.equal(code, 1000);
  t.match(reason.toString(), /replaced by a new master/);
  t.equal(m2.readyState, WebSocket.OPEN);
});

t.test('messages for an absent master wait for the message TTL; idle timeout; GO_AWAY on shutdown', async (t) => {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['ch'], idleTimeoutMs: 300, closeGraceMs: 50 });
  let closed = false;
  t.teardown(() => (closed ? undefined : svc.close()));
  const v = await open(svc, 'early');
  v.send(JSON.stringify({ action: 'SDP_OFFER', messagePayload: b64({ type: 'offer', sdp: 'before-master' }) }));
  await new Promise((r) => setTimeout(r, 50));
  const m = await open(svc);
  const mIn = framesOf(m);
  t.ok(await waitFor(() => mIn.length === 1), 'the master got the offer sent before it connected');
  t.match(mIn[0], { senderClientId: 'early', messageType: 'SDP_OFFER' });

  // the idle viewer is dropped, the pinging master stays
  const vClosed = next<[number, Buffer]>(v, 'close');
  const pinger = setInterval(() => m.ping(), 50);
  const [code, why] = await vClosed;
  t.equal(code, 1000);
  t.match(why.toString(), /idle/);
  t.equal(m.readyState, WebSocket.OPEN, 'pings keep a connection alive');
  clearInterval(pinger);

  const goAway = waitFor(() => mIn.some((x) => x['messageType'] === 'GO_AWAY'));
  const mClosed = next(m, 'close');
  closed = true;
  await svc.close();
  t.ok(await goAway, 'GO_AWAY before shutdown');
  await mClosed;
});

t.test('garbage does not crash the service: random frames on a signaling socket, random bytes on its port', async (t) => {
  const svc = await service(t);
  const master = await open(svc);
  const viewer = await open(svc, 'fuzzer');
  t.teardown(() => [master, viewer].forEach((w) => w.terminate()));
  let protocolErrors = 0;
  svc.on('protocolError', () => protocolErrors++);
  // deterministic pseudo-random input (xorshift), so a failure can be replayed
  let x = 0x9e3779b9;
  const rnd = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  const pieces = ['{', '}', '"action"', ':', '"SDP_OFFER"', '"messagePayload"', '"', ',', 'null', '[', ']', '"correlationId"', '"RecipientClientId"', '1e999', '\\u0000', 'true'];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) {
      const n = Math.floor(rnd() * 64);
      viewer.send(Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256))), { binary: true });
    } else {
      let msg = '';
      const n = 1 + Math.floor(rnd() * 12);
      for (let k = 0; k < n; k++) msg += pieces[Math.floor(rnd() * pieces.length)];
      viewer.send(msg);
    }
  }
  t.ok(await waitFor(() => protocolErrors >= 250), `bad frames were refused (${protocolErrors})`);

  // A text frame that is not UTF-8 fails that one connection (RFC 6455 8.1: close 1007), no other.
  const rude = await open(svc, 'rude');
  const rudeClosed = next<[number]>(rude, 'close');
  rude.send(Buffer.from([0xff, 0xfe, 0xc0]), { binary: false });
  t.equal((await rudeClosed)[0], 1007);

  const net = await import('node:net');
  await new Promise<void>((resolve) => {
    const s = net.connect(svc.port, '127.0.0.1', () => {
      s.write(Buffer.from(Array.from({ length: 2048 }, () => Math.floor(rnd() * 256))));
      s.end();
    });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.resume();
  });

  const mIn = framesOf(master);
  viewer.send(JSON.stringify({ action: 'SDP_OFFER', messagePayload: b64({ type: 'offer', sdp: 'still alive' }) }));
  t.ok(await waitFor(() => mIn.some((m) => m['messagePayload'] === b64({ type: 'offer', sdp: 'still alive' }))), 'routing still works afterwards');
  t.same(svc.peers('ch'), { master: true, viewers: ['fuzzer'] }, 'nobody was disconnected');
});
