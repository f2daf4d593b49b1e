// Unit test of the RFC 6184 depacketizer the interop tests rely on, on hand-built packets.
import t from 'tap';
import { H264Depacketizer, parseRtp, parseSpsResolution, unescapeRbsp, type RtpPacket } from './h264-depacketizer.js';

// SPS/PPS as openh264 (the engine's software encoder) writes them, taken from streams encoded
// by gst-launch videotestsrc ! openh264enc. 1920x1080 is coded as 1088 lines and cropped.
const SPS_640x480 = Buffer.from('6742c01e8c8d40501ed00f08846a', 'hex');
const SPS_1920x1080 = Buffer.from('6742c0288c8d403c0113f2c03c2211a8', 'hex');
const SPS_320x180 = Buffer.from('6742c0148c8d40a0cbcf00f08846a0', 'hex');
const PPS = Buffer.from('68ce3c80', 'hex');

/** Writes an SPS bit by bit (H.264 7.3.2.1.1), for the High-profile branch openh264 never takes. */
function highProfileSps(widthMbs: number, heightMbs: number, cropBottom: number): Buffer {
  const bits: number[] = [];
  const u = (n: number, v: number) => {
    for (let i = n - 1; i >= 0; i--) bits.push((v >> i) & 1);
  };
  const ue = (v: number) => {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    u(len, 0);
    u(len + 1, x);
  };
  const se = (v: number) => ue(v > 0 ? 2 * v - 1 : -2 * v);
  u(8, 100); // profile_idc High
  u(8, 0); // constraint flags
  u(8, 40); // level 4.0
  ue(0); // sps id
  ue(1); // chroma_format_idc 4:2:0
  ue(0);
  ue(0); // bit depths
  u(1, 0); // qpprime_y_zero_transform_bypass_flag
  u(1, 1); // seq_scaling_matrix_present_flag
  u(1, 1); // list 0 present
  for (let j = 0; j < 16; j++) se(j === 0 ? 8 : 0); // 16, then 16... stays non-zero: reads all 16
  u(1, 1); // list 1 present
  se(-8); // next_scale = 0 right away: use default list
  for (let i = 2; i < 8; i++) u(1, 0);
  ue(0); // log2_max_frame_num_minus4
  ue(0); // pic_order_cnt_type
  ue(2); // log2_max_pic_order_cnt_lsb_minus4
  ue(4); // max_num_ref_frames
  u(1, 0); // gaps
  ue(widthMbs - 1);
  ue(heightMbs - 1);
  u(1, 1); // frame_mbs_only_flag
  u(1, 1); // direct_8x8_inference_flag
  u(1, cropBottom ? 1 : 0);
  if (cropBottom) {
    ue(0);
    ue(0);
    ue(0);
    ue(cropBottom);
  }
  u(1, 0); // vui_parameters_present_flag
  u(1, 1); // rbsp_stop_one_bit
  while (bits.length % 8) bits.push(0);
  const raw: number[] = [0x67];
  let zeros = 0;
  for (let i = 0; i < bits.length; i += 8) {
    let byte = 0;
    for (let k = 0; k < 8; k++) byte = byte * 2 + bits[i + k]!;
    if (zeros >= 2 && byte <= 3) {
      raw.push(3); // emulation prevention
      zeros = 0;
    }
    raw.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(raw);
}
const IDR = Buffer.concat([Buffer.from([0x65, 0x88, 0x84]), Buffer.alloc(3000, 0xab)]);
const P_SLICE = Buffer.from([0x41, 0x9a, 0x02, 0x11]);

let seq = 65530; // wraps past 65535 during the test
function pkt(ts: number, payload: Buffer, marker: boolean, pt = 102): RtpPacket {
  const p = { payloadType: pt, sequenceNumber: seq, timestamp: ts, marker, ssrc: 0x1234, payload };
  seq = (seq + 1) & 0xffff;
  return p;
}
function stapA(...nals: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x78])]; // F=0 NRI=3 type=24
  for (const n of nals) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(n.length);
    parts.push(len, n);
  }
  return Buffer.concat(parts);
}
function fuA(nal: Buffer, mtu: number): Buffer[] {
  const header = nal[0]!;
  const body = nal.subarray(1);
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += mtu) {
    const chunk = body.subarray(off, off + mtu);
    const start = off === 0 ? 0x80 : 0;
    const end = off + mtu >= body.length ? 0x40 : 0;
    out.push(Buffer.concat([Buffer.from([(header & 0xe0) | 28, start | end | (header & 0x1f)]), chunk]));
  }
  return out;
}
function keyframe(d: H264Depacketizer, ts: number) {
  const out = d.push(pkt(ts, stapA(SPS_640x480, PPS), false));
  const frags = fuA(IDR, 1000);
  frags.forEach((f, i) => out.push(...d.push(pkt(ts, f, i === frags.length - 1))));
  return out;
}

t.test('SPS resolution', async (t) => {
  t.same(parseSpsResolution(SPS_640x480), { width: 640, height: 480 });
  t.same(parseSpsResolution(SPS_1920x1080), { width: 1920, height: 1080 });
  t.same(parseSpsResolution(SPS_320x180), { width: 320, height: 180 });
  t.same(parseSpsResolution(highProfileSps(80, 45, 0)), { width: 1280, height: 720 }, 'High profile, scaling lists');
  t.same(parseSpsResolution(highProfileSps(120, 68, 4)), { width: 1920, height: 1080 }, 'High profile, cropped');
  t.equal(parseSpsResolution(PPS), null, 'not an SPS');
  t.equal(parseSpsResolution(Buffer.from([0x67, 0x42])), null, 'truncated');
  t.same(unescapeRbsp(Buffer.from([0, 0, 3, 1, 0, 0, 3])), Buffer.from([0, 0, 1, 0, 0]));
});

t.test('STAP-A SPS/PPS then FU-A IDR, then single-NAL P frames', async (t) => {
  const d = new H264Depacketizer(102);
  const aus = keyframe(d, 1000);
  t.equal(aus.length, 1, 'one access unit when the marker arrives');
  const au = aus[0]!;
  t.same(au.nalTypes, [7, 8, 5]);
  t.ok(au.keyframe);
  t.ok(au.parameterSetsFirst);
  t.equal(au.width, 640);
  t.equal(au.height, 480);
  t.same(au.nalUnits[2], IDR, 'FU-A reassembled byte for byte, NAL header rebuilt');
  const p = d.push(pkt(4000, P_SLICE, true));
  t.equal(p.length, 1);
  t.same(p[0]!.nalTypes, [1]);
  t.notOk(p[0]!.keyframe);
  t.same(d.stats, { packets: 6, accessUnits: 2, keyframes: 1, incomplete: 0, ignored: 0, duplicates: 0 });
});

t.test('single NAL units of one timestamp make one access unit', async (t) => {
  const d = new H264Depacketizer();
  t.same(d.push(pkt(1, SPS_640x480, false)), []);
  t.same(d.push(pkt(1, PPS, false)), []);
  const aus = d.push(pkt(1, Buffer.from([0x65, 1, 2, 3]), true));
  t.equal(aus.length, 1);
  t.same(aus[0]!.nalTypes, [7, 8, 5]);
  t.ok(aus[0]!.parameterSetsFirst);
});

t.test('IDR without parameter sets is a keyframe but not a decodable start', async (t) => {
  const d = new H264Depacketizer();
  const aus = d.push(pkt(1, Buffer.from([0x65, 1, 2, 3]), true));
  t.ok(aus[0]!.keyframe);
  t.notOk(aus[0]!.parameterSetsFirst);
});

t.test('a lost packet makes its access unit incomplete, the next one still counts', async (t) => {
  const d = new H264Depacketizer();
  const frags = fuA(IDR, 500);
  d.push(pkt(10, stapA(SPS_640x480, PPS), false));
  d.push(pkt(10, frags[0]!, false));
  seq++; // frags[1] lost
  let out: ReturnType<H264Depacketizer['push']> = [];
  for (const f of frags.slice(2)) out = out.concat(d.push(pkt(10, f, f === frags[frags.length - 1])));
  t.same(out, [], 'broken access unit not delivered');
  t.equal(d.stats.incomplete, 1);
  const next = d.push(pkt(20, P_SLICE, true));
  t.equal(next.length, 1, 'following frame is whole');
});

t.test('a lost marker packet is detected when the timestamp changes', async (t) => {
  const d = new H264Depacketizer();
  d.push(pkt(10, P_SLICE, false));
  seq++; // last packet of ts 10 (with marker) lost
  const out = d.push(pkt(20, P_SLICE, true));
  t.equal(out.length, 0, 'gap right before a new timestamp may have eaten its start');
  t.equal(d.stats.incomplete, 2, 'both the unfinished and the possibly truncated access unit');
  t.equal(d.push(pkt(30, P_SLICE, true)).length, 1);
});

t.test('FU-A without start, malformed STAP-A, unsupported types', async (t) => {
  const d = new H264Depacketizer();
  const frags = fuA(IDR, 500);
  t.same(d.push(pkt(1, frags[1]!, true)), [], 'FU-A middle alone');
  t.same(d.push(pkt(2, Buffer.from([0x78, 0x00, 0x10, 0x67]), true)), [], 'STAP-A size past the end');
  t.same(d.push(pkt(3, Buffer.from([0x79, 0x00]), true)), [], 'STAP-B (type 25)');
  t.same(d.push(pkt(4, Buffer.from([0x9c, 0x85, 1]), true)), [], 'forbidden_zero_bit set');
  t.same(d.push(pkt(5, Buffer.alloc(0), true)), [], 'empty payload');
  t.equal(d.stats.incomplete, 5);
  t.equal(d.stats.accessUnits, 0);
});

t.test('duplicates and other payload types are ignored', async (t) => {
  const d = new H264Depacketizer(102);
  const a = pkt(1, P_SLICE, true);
  t.equal(d.push(a).length, 1);
  t.equal(d.push(a).length, 0, 'retransmitted duplicate');
  t.equal(d.push(pkt(2, P_SLICE, true, 103)).length, 0, 'RTX payload type');
  t.equal(d.stats.duplicates, 1);
  t.equal(d.stats.ignored, 1);
});

t.test('parseRtp: header fields, CSRC, extension, padding, RTCP', async (t) => {
  const payload = Buffer.from([0x41, 1, 2]);
  const hdr = Buffer.from([0xb1, 0xe6, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef]);
  // V=2 P=1 X=1 CC=1; M=1 PT=102
  const csrc = Buffer.from([1, 2, 3, 4]);
  const ext = Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0, 0]);
  const padding = Buffer.from([0, 0, 3]);
  const p = parseRtp(Buffer.concat([hdr, csrc, ext, payload, padding]));
  t.ok(p);
  t.equal(p!.payloadType, 102);
  t.equal(p!.marker, true);
  t.equal(p!.sequenceNumber, 0x1234);
  t.equal(p!.timestamp, 0x1000);
  t.equal(p!.ssrc, 0xdeadbeef);
  t.same(p!.payload, payload);
  t.equal(parseRtp(Buffer.from([0x80, 0xc8, 0, 6, ...Buffer.alloc(24)])), null, 'RTCP sender report');
  t.equal(parseRtp(Buffer.from([0x80, 0x60])), null, 'too short');
  t.equal(parseRtp(Buffer.from([0x40, 0x60, ...Buffer.alloc(10)])), null, 'version 1');
});
