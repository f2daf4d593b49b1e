// Writes the seed corpora of the TypeScript fuzz targets into fuzz/seeds/<target>/ (committed):
// realistic inputs in each target's input format. SDP offers are the ones captured from real
// browsers and stacks in cpp/test/rtc/offers/.
//   node --import tsx fuzz/ts/make-seeds.ts
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const offers = readdirSync(join(root, 'cpp/test/rtc/offers'))
  .filter((f) => f.endsWith('.sdp'))
  .map((f) => ({ name: f.replace(/\.sdp$/, ''), sdp: readFileSync(join(root, 'cpp/test/rtc/offers', f), 'utf8') }));
const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.168.1.20 54321 typ host generation 0', sdpMid: '0', sdpMLineIndex: 0 };
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
const u8 = (n: number): Buffer => Buffer.from([n]);
const field = (s: string | Buffer): Buffer => {
  const b = Buffer.from(s);
  return Buffer.concat([u8(Math.min(b.length, 255)), b.subarray(0, 255)]);
};
const field16 = (s: string | Buffer): Buffer => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
};

function write(target: string, seeds: Record<string, Buffer>): void {
  const dir = join(root, 'fuzz/seeds', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(seeds)) writeFileSync(join(dir, name), data);
}

// signaling-message: form 0 = the frame's text; form 1 = key case, type, sender, inner payload.
const sig: Record<string, Buffer> = {};
for (const o of offers) {
  sig[`offer-${o.name}`] = Buffer.concat([u8(0), Buffer.from(JSON.stringify({ messageType: 'SDP_OFFER', senderClientId: 'viewer-1', messagePayload: b64({ type: 'offer', sdp: o.sdp }) }))]);
  sig[`offer-wrapped-${o.name}`] = Buffer.concat([u8(1), u8(0), u8(1), u8(0), field('viewer-1'), Buffer.from(JSON.stringify({ type: 'offer', sdp: o.sdp }))]);
}
sig['ice'] = Buffer.concat([u8(0), Buffer.from(JSON.stringify({ messageType: 'ICE_CANDIDATE', senderClientId: 'viewer-1', messagePayload: b64(candidate) }))]);
sig['ice-wrapped-pascal'] = Buffer.concat([u8(1), u8(1), u8(1), u8(2), field('viewer-1'), Buffer.from(JSON.stringify(candidate))]);
sig['status'] = Buffer.concat([u8(0), Buffer.from(JSON.stringify({ senderClientId: '', messageType: 'STATUS_RESPONSE', messagePayload: '', statusResponse: { correlationId: 'c-1', success: false, errorType: 'InvalidArgumentException', statusCode: '400', description: 'recipient viewer-9 is not connected' } }))]);
sig['go-away'] = Buffer.concat([u8(0), Buffer.from(JSON.stringify({ senderClientId: '', messageType: 'GO_AWAY', messagePayload: '' }))]);
sig['reconnect-ice'] = Buffer.concat([u8(0), Buffer.from(JSON.stringify({ SenderClientId: '', MessageType: 'RECONNECT_ICE_SERVER', MessagePayload: '' }))]);
write('signaling-message', sig);

// signaling-router: opcodes 0 master, 1 viewer, 2 raw frame, 3 structured message, 4 binary, 5 close, 6 clock, 7 flush.
const offer = offers.find((o) => o.name.includes('chrome')) ?? offers[0];
const offerFrame = JSON.stringify({ action: 'SDP_OFFER', messagePayload: b64({ type: 'offer', sdp: offer?.sdp ?? '' }), correlationId: 'c-1' });
const answerFrame = JSON.stringify({ action: 'SDP_ANSWER', recipientClientId: 'viewer-1', messagePayload: b64({ type: 'answer', sdp: offer?.sdp ?? '' }) });
write('signaling-router', {
  // master and viewer on channel 0; the viewer offers (raw frame); the master answers; a candidate each way.
  'offer-answer': Buffer.concat([u8(0), u8(0), u8(1), u8(0), u8(1), u8(0), u8(2), u8(1), field16(offerFrame), u8(2), u8(0), field16(answerFrame),
    u8(3), u8(1), u8(0), u8(1), u8(2), u8(0), u8(2), u8(1), field16(JSON.stringify(candidate)), u8(5), u8(1), u8(7)]),
  // a viewer first (message kept for the absent master), then the master: the kept offer is delivered.
  'pending-then-master': Buffer.concat([u8(1), u8(0), u8(1), u8(0), u8(2), u8(0), field16(offerFrame), u8(6), u8(10), u8(0), u8(0), u8(7)]),
  // refusals: no recipient from the master, a bad correlationId, a binary frame, a viewer on the TTL-less channel.
  refusals: Buffer.concat([u8(0), u8(1), u8(3), u8(0), u8(0), u8(1), u8(0), u8(0), u8(2), u8(1), field16('e30='), u8(4), u8(0), u8(1), u8(1), u8(1), u8(2),
    u8(3), u8(1), u8(0), u8(1), u8(0), u8(0), u8(3), u8(1), field16('{"sdp":"v=0"}')]),
});

// config-load: byte 0 bit 0 = YAML, bit 1 = environment overrides follow; then the file.
const yaml = `deviceId: cam-front-door
region: us-west-2
channel:
  name: front-door
video:
  width: 1280
  height: 720
  fps: 30
  bitrate: { minKbps: 300, startKbps: 1500, maxKbps: 4000 }
viewers:
  max: 4
mqtt:
  enabled: true
  url: mqtts://broker.example.com:8883
  topicPrefix: kvs-edge/{deviceId}
logging:
  level: info
anchors:
  base: &base { fps: 15 }
`;
write('config-load', {
  'device.yaml': Buffer.concat([u8(1), Buffer.from(yaml)]),
  'device.json': Buffer.concat([u8(0), Buffer.from(JSON.stringify({ deviceId: 'cam-1', channel: { name: 'cam-1' }, video: { width: 640, height: 480, fps: 15, qpMin: 20, qpMax: 40 }, viewers: { max: 2 }, mqtt: { enabled: false } }, null, 2))]),
  'env.yaml': Buffer.concat([u8(3), field('4'), field('yes'), field('porch'), field('debug'), Buffer.from('deviceId: cam-2\nvideo:\n  fps: 25\n')]),
  'empty.json': Buffer.concat([u8(0), Buffer.from('{}')]),
  'named-sources.yaml': Buffer.concat([u8(1), Buffer.from(`deviceId: cam-3
video:
  source: night
  sources:
    day: { type: v4l2, device: /dev/video0 }
    night: { type: pipe, command: [/usr/bin/ir-camera, --night], format: h264 }
audio:
  source: greeting
  sources:
    greeting: { source: file, path: /var/lib/kvs-edge/hello.ogg }
  talkback: speaker
  talkbackSinks:
    speaker: { sink: command, command: [/usr/bin/aplay, -q] }
mqtt:
  remoteSettable: [video.fps, video.source]
`)]),
});

// mqtt-command: per message: flags (bit 0 fuzzed name, bits 1-2 = 3 fuzzed topic, bit 3 response
// topic, bit 4 correlation data, bits 5-7 = 7 retain), name, [topic], [response topic], [correlation], payload.
const NAMES_INDEX: Record<string, number> = Object.fromEntries(
  ['ping', 'status', 'start', 'stop', 'restart', 'keyframe', 'set-bitrate', 'set-video', 'viewers', 'kick-viewer', 'get-config', 'set-config', 'set-log-level', 'reboot'].map((n, i) => [n, i]),
);
const cmd = (name: string, body: unknown, opts: { responseTopic?: string; correlation?: string } = {}): Buffer => {
  let flags = 0;
  const parts: Buffer[] = [];
  parts.push(u8(NAMES_INDEX[name] ?? 0));
  if (opts.responseTopic !== undefined) {
    flags |= 8;
    parts.push(field(opts.responseTopic));
  }
  if (opts.correlation !== undefined) {
    flags |= 16;
    parts.push(field(opts.correlation));
  }
  parts.push(field16(typeof body === 'string' ? body : JSON.stringify(body)));
  return Buffer.concat([u8(flags), ...parts]);
};
write('mqtt-command', {
  ping: cmd('ping', { requestId: 'r-1' }),
  'set-bitrate': cmd('set-bitrate', { requestId: 'r-2', args: { kbps: 1200 } }),
  'set-video': cmd('set-video', { requestId: 'r-3', args: { width: 1280, height: 720, fps: 25 } }, { responseTopic: 'fleet/replies/cam-1', correlation: 'abc' }),
  'set-config': cmd('set-config', { requestId: 'r-4', args: { patch: { video: { fps: 20, bitrate: { maxKbps: 3000 } }, viewers: { max: 3 }, logging: { level: 'debug' } } } }),
  'set-config-forbidden': cmd('set-config', { requestId: 'r-5', args: { patch: { mqtt: { url: 'mqtt://evil:1883' }, system: { reboot: { command: ['/bin/sh'] } } } } }),
  'set-config-named-source': cmd('set-config', { requestId: 'r-11', args: { patch: { video: { source: 'night', fps: 15 } } } }),
  'set-config-program': cmd('set-config', { requestId: 'r-12', args: { patch: { video: { source: { type: 'pipe', command: ['/usr/bin/touch', '/tmp/x'], format: 'h264' } } } } }),
  'kick-viewer': cmd('kick-viewer', { requestId: 'r-6', args: { clientId: 'viewer-1' } }),
  'set-log-level': cmd('set-log-level', { requestId: 'r-7', args: { level: 'warn' } }),
  'retry-and-reuse': Buffer.concat([cmd('keyframe', { requestId: 'r-8' }), cmd('keyframe', { requestId: 'r-8' }), cmd('reboot', { requestId: 'r-8' })]),
  'get-config': cmd('get-config', { requestId: 'r-9', args: {} }),
  'not-json': cmd('status', '{"requestId": "r-10", '),
});
