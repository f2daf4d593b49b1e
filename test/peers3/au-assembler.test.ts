// AuAssembler on synthetic RTP: in order, lost, retransmitted late, duplicated, across the
// 16-bit sequence wrap.
import t from 'tap';
import { AuAssembler, type AuPacket } from './au-assembler.js';

const SPS = Buffer.from([0x67, 0x42, 0xe0, 0x1f]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
const stapA = (...nals: Buffer[]): Buffer => Buffer.concat([Buffer.from([0x18]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
const fu = (type: number, start: boolean, end: boolean): Buffer => Buffer.from([0x7c, (start ? 0x80 : 0) | (end ? 0x40 : 0) | type, 1, 2, 3]);
const pSlice = Buffer.from([0x41, 0x9a, 0, 0]);

/** One IDR (STAP-A SPS+PPS, IDR in three FU-A) then `n` single-packet P frames, from `seq0`. */
function stream(seq0: number, n: number): AuPacket[] {
  const pk: AuPacket[] = [];
  let seq = seq0;
  const push = (timestamp: number, marker: boolean, payload: Buffer): void => {
    pk.push({ sequenceNumber: seq & 0xffff, timestamp, marker, payload });
    seq++;
  };
  push(1000, false, stapA(SPS, PPS));
  push(1000, false, fu(5, true, false));
  push(1000, false, fu(5, false, false));
  push(1000, true, fu(5, false, true));
  for (let i = 1; i <= n; i++) push(1000 + 3000 * i, true, pSlice);
  return pk;
}

function feed(a: AuAssembler, pk: AuPacket[]): void {
  for (const p of pk) a.push(p);
}

t.test('in order: every access unit complete, keyframe with parameter sets first', async (t) => {
  const a = new AuAssembler();
  feed(a, stream(100, 10));
  t.equal(a.stats.complete, 11);
  t.equal(a.stats.keyframes, 1);
  t.same(a.completed[0], { timestamp: 1000, keyframe: true, parameterSetsFirst: true, packets: 4 });
});

t.test('a lost packet costs its access unit and the next (start unknown) until repaired', async (t) => {
  const pk = stream(100, 10);
  const lost = pk.splice(6, 1)[0]!; // P frame #3
  const a = new AuAssembler();
  feed(a, pk);
  t.equal(a.stats.complete, 9, 'frames 3 and 4 incomplete');
  a.push(lost); // retransmission arrives late
  t.equal(a.stats.complete, 11, 'both complete once the retransmission is in');
  t.equal(a.stats.late, 1);
});

t.test('a lost FU-A fragment is repaired out of order; duplicates are ignored', async (t) => {
  const pk = stream(65530, 4); // crosses the 16-bit wrap
  const lost = pk.splice(2, 1)[0]!;
  const a = new AuAssembler();
  feed(a, pk);
  t.equal(a.stats.complete, 4, 'the IDR misses a fragment; the P frames after its marker packet are complete');
  t.equal(a.stats.keyframes, 0);
  a.push(lost);
  a.push(lost);
  t.equal(a.stats.complete, 5);
  t.equal(a.stats.duplicates, 1);
  t.equal(a.stats.keyframes, 1);
});

t.test('the session start needs SPS first', async (t) => {
  const pk = stream(100, 3);
  const a = new AuAssembler();
  feed(a, pk.slice(1)); // the STAP-A never arrives
  t.equal(a.stats.keyframes, 0, 'IDR without its first packet (SPS/PPS) is not complete');
  t.equal(a.stats.complete, 3, 'the P frames after it are');
});
