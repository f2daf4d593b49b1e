// Data channels with Chromium (SCTP over DTLS, DCEP): the KVS SDK's "kvsDataChannel" opened by
// the viewer echoes text and 64 KiB binary messages through the engine; a channel opened by the
// camera reaches the viewer; an unordered, unreliable channel works too.
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { launch, setPageAnswer, trickleWithPage, type PageWindow } from './chromium-viewer.js';

type W = PageWindow & { got: Record<string, (string | number[])[]>; cameraChannel?: string };

t.test('data channels both ways with Chromium', async (t) => {
  const browser = await launch();
  const track = new VideoTrack({ width: 320, height: 240, fps: 15, bitrateKbps: 200 });
  const pc = new PeerConnection();
  pc.addTrack(track);
  t.teardown(async () => { pc.close(); track.close(); await browser.close(); });
  const opened: { id: number; label: string; ordered: boolean }[] = [];
  // Echo everything back on the channel it came from.
  pc.on('datachannel', (c) => opened.push(c));
  pc.on('datachannel-message', (m) => pc.sendData(m.id, m.data));

  const page = await browser.newPage();
  await trickleWithPage(page, pc);
  const offer = await page.evaluate(async () => {
    const w = window as unknown as W;
    w.v = new RTCPeerConnection();
    w.pending = [];
    w.got = {};
    w.v.onicecandidate = (e) => { if (e.candidate) w.toEngine(e.candidate.toJSON()); };
    w.v.addTransceiver('video', { direction: 'recvonly' });
    const record = (dc: RTCDataChannel) => {
      dc.binaryType = 'arraybuffer';
      w.got[dc.label] = [];
      dc.onmessage = (e) => { w.got[dc.label]!.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data as ArrayBuffer))); };
    };
    const kvs = w.v.createDataChannel('kvsDataChannel');
    const lossy = w.v.createDataChannel('telemetry', { ordered: false, maxRetransmits: 0 });
    record(kvs);
    record(lossy);
    kvs.onopen = () => {
      kvs.send('hello camera');
      const big = new Uint8Array(65536);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
      kvs.send(big);
      kvs.send('');
    };
    lossy.onopen = () => { for (let i = 0; i < 5; i++) lossy.send(`sample ${i}`); };
    w.v.ondatachannel = (e) => { record(e.channel); w.cameraChannel = e.channel.label; };
    const o = await w.v.createOffer();
    await w.v.setLocalDescription(o);
    return o.sdp ?? '';
  });
  const answer = await pc.setRemoteOffer(offer);
  t.match(answer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/, 'the data channel section is accepted');
  t.match(answer, /a=sctp-port:5000/);
  await setPageAnswer(page, answer);

  const got = async () => page.evaluate(() => (window as unknown as W).got);
  let echoes = await got();
  for (let i = 0; i < 100 && ((echoes.kvsDataChannel?.length ?? 0) < 3 || (echoes.telemetry?.length ?? 0) < 5); i++) {
    await new Promise((r) => setTimeout(r, 100));
    echoes = await got();
  }
  t.same(opened.map((c) => c.label).sort(), ['kvsDataChannel', 'telemetry'], 'the engine saw both channels open');
  t.equal(opened.find((c) => c.label === 'telemetry')?.ordered, false, 'the unordered channel is reported unordered');
  const kvs = echoes.kvsDataChannel ?? [];
  t.equal(kvs[0], 'hello camera', 'text echoed');
  const big = kvs[1] as number[] | undefined;
  t.equal(big?.length, 65536, '64 KiB binary echoed whole');
  t.ok(big?.every((b, i) => b === ((i * 31 + 7) & 0xff)), 'byte for byte');
  t.equal(kvs[2], '', 'an empty message echoed');
  t.same((echoes.telemetry ?? []).slice().sort(), ['sample 0', 'sample 1', 'sample 2', 'sample 3', 'sample 4'], 'unreliable channel messages arrive on loopback');

  const id = pc.createDataChannel('camera-events');
  t.equal(id % 2, 0, 'as DTLS client the camera opens even stream ids');
  let seen = await got();
  for (let i = 0; i < 50 && !seen['camera-events']; i++) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await got();
  }
  t.ok(seen['camera-events'], 'the viewer saw the camera\'s channel open');
  pc.sendData(id, 'motion detected');
  for (let i = 0; i < 50 && (seen['camera-events']?.length ?? 0) < 1; i++) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await got();
  }
  t.same(seen['camera-events'], ['motion detected'], 'and its message');
  const stats = await pc.getStats();
  t.ok(stats.dataMessagesReceived >= 8 && stats.dataMessagesSent >= 9, `counted (${stats.dataMessagesReceived} in, ${stats.dataMessagesSent} out)`);
  t.throws(() => pc.sendData(999, 'x'), { code: 'ERR_INVALID_ARG' }, 'an unknown channel id is refused');
  t.throws(() => pc.sendData(id, Buffer.alloc(300000)), /over the 262144-byte limit/);
});
