// A short libFuzzer run (ASan + UBSan) of the parsers of untrusted H.264 bytes in every
// `npm test`: split_annexb, the streaming Annex-B access-unit parser, the SEI parser, and the
// engine's SDP, RTP/RTCP and H.264 packetizer parsers, and the Ogg (Opus) page reader.
// The long run (>= 1,000,000 inputs per target) is `fuzz/run.sh`.
// Skipped, with the reason, when clang / libFuzzer is not installed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = 20000;
const r = spawnSync('bash', [join(root, 'fuzz', 'run.sh'), String(RUNS)], {
  cwd: root,
  encoding: 'utf8',
  timeout: 240_000,
  killSignal: 'SIGKILL',
});
const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
const skip = /^SKIP: (.*)$/m.exec(out);
if (r.status === 77 && skip) {
  t.pass(`skipped: ${skip[1]}`, { skip: skip[1] });
} else {
  t.equal(r.status, 0, 'no fuzz target crashed or failed to build');
  if (r.status !== 0) t.comment(out.slice(-4000));
  for (const target of ['annexb_split_fuzz', 'annexb_parser_fuzz', 'sei_fuzz', 'sdp_fuzz', 'rtcp_fuzz', 'h264_packetizer_fuzz', 'ogg_fuzz']) {
    const m = new RegExp(`== ${target}: \\d+ runs\\nDone (\\d+) runs`).exec(out);
    t.equal(Number(m?.[1]), RUNS, `${target} ran ${RUNS} inputs`);
  }
}
