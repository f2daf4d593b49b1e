// The answers the engine writes to offers captured from real stacks (cpp/test/rtc/offers).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { AudioTrack, PeerConnection, VideoTrack } from '../../ts/native/index.js';

const offer = (name: string) => readFileSync(new URL(`../../cpp/test/rtc/offers/${name}`, import.meta.url), 'utf8');
const track = new VideoTrack({ width: 320, height: 240 });
const audio = new AudioTrack();
t.teardown(() => { track.close(); audio.close(); });

async function answerTo(name: string, withAudio = false): Promise<string> {
  const pc = new PeerConnection({ localAddresses: ['127.0.0.1'] });
  pc.addTrack(track);
  if (withAudio) pc.addTrack(audio);
  try {
    return await pc.setRemoteOffer(offer(name));
  } finally {
    pc.close();
  }
}

t.test('Chromium (video + audio + data channel, BUNDLE)', async (t) => {
  const a = await answerTo('chromium.sdp', true);
  t.match(a, /^a=group:BUNDLE 0 1 2$/m, 'all three sections bundled');
  t.match(a, /m=video 9 UDP\/TLS\/RTP\/SAVPF 108 109/, 'H.264 42e01f with its RTX');
  t.match(a, /a=fmtp:109 apt=108/);
  t.match(a, /a=ssrc-group:FID \d+ \d+/, 'RTX grouped with the media SSRC (RFC 4588)');
  t.match(a, /a=rtcp-fb:108 nack\r\n/);
  t.match(a, /m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r\n[\s\S]*a=sendonly/, 'Opus sent; sendonly since no talk-back sink is configured');
  t.match(a, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
  t.match(a, /a=setup:active/);
  t.match(a, /a=candidate:\S+ 1 UDP \d+ 127\.0\.0\.1 \d+ typ host/, 'host candidate in the answer');
  // The only header extension the engine writes is the transport-wide sequence number (TWCC).
  const extmaps = a.match(/^a=extmap:.*$/gm) ?? [];
  t.ok(extmaps.length > 0 && extmaps.every((l) => l.includes('transport-wide-cc')), `only transport-cc is claimed (${extmaps.join(' | ')})`);
});

t.test('aiortc (separate transports per section, BUNDLE offered)', async (t) => {
  const a = await answerTo('aiortc.sdp');
  t.match(a, /m=video 9 UDP\/TLS\/RTP\/SAVPF 101/, 'constrained baseline (42e01f) chosen over baseline');
  t.match(a, /a=group:BUNDLE 0 1/);
});

t.test('libdatachannel and werift (video only)', async (t) => {
  t.match(await answerTo('libdatachannel.sdp'), /m=video 9 UDP\/TLS\/RTP\/SAVPF 96\r\n/);
  t.match(await answerTo('werift.sdp'), /m=video 9 UDP\/TLS\/RTP\/SAVPF 96\r\n/);
});
