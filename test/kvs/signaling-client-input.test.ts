import t from 'tap';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { SignalingClient, StaticCredentialsProvider, type IceCandidate, type SessionDescription } from '../../ts/kvs/index.js';
import { b64, next } from './helpers.js';

// Our client against a hand-written server that sends what the C SDK's peers and a broken or
// future service might: PascalCase keys, junk frames, unknown types. Nothing may throw.

t.test('PascalCase messages are understood; junk is reported as badMessage and ignored', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as AddressInfo).port;
  const conn = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
  const client = new SignalingClient({
    role: 'MASTER',
    region: 'us-west-2',
    channelArn: 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/x/1',
    resolveEndpoint: async () => `ws://127.0.0.1:${port}`,
    credentials: new StaticCredentialsProvider({ accessKeyId: 'AK', secretAccessKey: 'SK' }),
  });
  t.teardown(() => client.close());
  await client.open();
  const server = await conn;
  const bad: string[] = [];
  client.on('badMessage', (r) => bad.push(r));

  const offer = next<[SessionDescription, string]>(client, 'sdpOffer');
  const cand = next<[IceCandidate, string]>(client, 'iceCandidate');
  const status = next<[{ correlationId?: string; errorType?: string }]>(client, 'statusResponse');
  server.send('not json');
  server.send(JSON.stringify([1, 2]));
  server.send(JSON.stringify({ messageType: 'SOMETHING_NEW', messagePayload: '' }));
  server.send(JSON.stringify({ messageType: 'SDP_OFFER', senderClientId: 'v', messagePayload: '%%%not base64 json' }));
  server.send(JSON.stringify({ messageType: 'ICE_CANDIDATE', senderClientId: 'v', messagePayload: b64({ nope: 1 }) }));
  server.send(Buffer.from([0, 1, 2]), { binary: true });
  server.send(JSON.stringify({ MessageType: 'SDP_OFFER', SenderClientId: 'viewer-9', MessagePayload: b64({ type: 'offer', sdp: 'v=0 pascal' }) }));
  server.send(JSON.stringify({ MessageType: 'ICE_CANDIDATE', SenderClientId: 'viewer-9', MessagePayload: b64({ candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 }) }));
  server.send(JSON.stringify({ MessageType: 'STATUS_RESPONSE', StatusResponse: { CorrelationId: 'c9', ErrorType: 'InvalidArgumentException', StatusCode: 400 } }));

  t.same(await offer, [{ type: 'offer', sdp: 'v=0 pascal' }, 'viewer-9']);
  t.same(await cand, [{ candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 }, 'viewer-9']);
  t.match((await status)[0], { correlationId: 'c9', errorType: 'InvalidArgumentException', statusCode: '400' });
  t.equal(bad.length, 6, `six junk frames reported (${bad.join(' | ')})`);
  t.equal(client.state, 'open', 'still connected');
});

t.test('usage errors are KvsError with codes, before anything is sent', async (t) => {
  t.throws(() => new SignalingClient({
    role: 'VIEWER',
    region: 'r',
    channelArn: 'a',
    resolveEndpoint: async () => 'ws://x',
    credentials: new StaticCredentialsProvider({ accessKeyId: 'a', secretAccessKey: 'b' }),
  }), { name: 'KvsUsageError', code: 'ERR_KVS_BAD_ARGUMENT', message: /clientId/ });
  let caught: unknown;
  try {
    new StaticCredentialsProvider({ accessKeyId: '', secretAccessKey: '' });
  } catch (e) {
    caught = e;
  }
  t.ok(caught instanceof TypeError, 'usage errors are TypeErrors');
  const c = new SignalingClient({
    role: 'VIEWER',
    clientId: 'v1',
    region: 'r',
    channelArn: 'a',
    resolveEndpoint: async () => 'ws://x',
    credentials: new StaticCredentialsProvider({ accessKeyId: 'a', secretAccessKey: 'b' }),
  });
  t.throws(() => c.sendSdpOffer({ type: 'offer', sdp: 'x' }), { code: 'ERR_KVS_NOT_OPEN' });
  t.throws(() => c.sendSdpOffer({ type: 'offer', sdp: 'x' }, 'someone'), { code: 'ERR_KVS_BAD_ARGUMENT' });
  t.throws(() => c.sendSdpOffer({ type: 'offer', sdp: 'x'.repeat(9000) }), { code: 'ERR_KVS_BAD_ARGUMENT', message: /10 KB/ });
  t.throws(() => c.sendSdpOffer({ type: 'offer', sdp: 'x' }, undefined, 'bad id!'), { code: 'ERR_KVS_BAD_ARGUMENT' });
  c.close();
  c.close();
  const badUrl = new SignalingClient({
    role: 'MASTER',
    region: 'r',
    channelArn: 'a',
    resolveEndpoint: async () => 'https://not-a-websocket',
    credentials: new StaticCredentialsProvider({ accessKeyId: 'a', secretAccessKey: 'b' }),
  });
  badUrl.on('error', () => undefined);
  await t.rejects(badUrl.open(), { code: 'ERR_KVS_BAD_ARGUMENT', message: /must be wss/ }, 'a wrong endpoint ends open(), no retry loop');
  t.equal(badUrl.state, 'closed');
  await t.rejects(c.open(), { code: 'ERR_KVS_CLOSED' });
});

t.test('a fatal error with no error listener rejects open() and does not throw', async (t) => {
  const c = new SignalingClient({
    role: 'MASTER',
    region: 'r',
    channelArn: 'a',
    resolveEndpoint: async () => 'ftp://nope',
    credentials: new StaticCredentialsProvider({ accessKeyId: 'a', secretAccessKey: 'b' }),
  });
  await t.rejects(c.open(), { code: 'ERR_KVS_BAD_ARGUMENT' });
  t.equal(c.state, 'closed');
});
