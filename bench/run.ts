// npm run bench: prints figures; never a pass/fail test. Results also go to bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchKvsEdgeTtff } from './ttff.js';
import { main as benchEncoder } from './encoder.js';
import { runPeerBench } from './peers.js';
import { runMemoryBench } from './memory.js';

// `npm run bench -- encoder peers`: only those parts (default: all). `--quick`: a short peers run.
const parts = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const quick = process.argv.includes('--quick');
const known = ['ttff', 'encoder', 'peers', 'memory'];
for (const p of parts) if (!known.includes(p)) throw new Error(`npm run bench: unknown part "${p}" (parts: ${known.join(', ')})`);
const want = (part: string): boolean => parts.length === 0 || parts.includes(part);

const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };

console.log(`# kvs-edge benchmarks (${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB)`);
if (want('ttff')) {
  console.log(`\n## Time to first frame, offer -> first decoded frame at headless Chromium, 720p30 2 Mbps, ${connections} connections`);
  const ttff = await benchKvsEdgeTtff(connections);
  console.log(`kvs-edge: p50 ${ttff.p50.toFixed(1)} ms, p95 ${ttff.p95.toFixed(1)} ms, failures ${ttff.failures} (target p50 < 150 ms)`);
  if (ttff.phases) {
    const p = ttff.phases;
    console.log(`  engine phases p50 after the offer: ICE ${p.iceConnected.toFixed(1)} ms, DTLS ${p.dtlsConnected.toFixed(1)} ms, first frame sent ${p.firstFrameSent.toFixed(1)} ms`);
  }

  mkdirSync('bench/results', { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(`bench/results/ttff-${stamp}.json`, JSON.stringify({ machine, ttff }, null, 2));
  console.log(`\nwritten bench/results/ttff-${stamp}.json`);
}

// The software encoder benchmark (bench/encoder.ts).
if (want('encoder')) await benchEncoder();

if (want('peers')) {
  // Senders side by side (kvs-edge, GStreamer webrtcbin, node-datachannel, werift): bench/peers.ts.
  console.log(`\n## Senders side by side, 720p30 2 Mbps H.264, viewer: the kvs-edge engine in viewer role`);
  const env = process.env;
  await runPeerBench({
    connections: quick ? 1 : connections,
    viewerCounts: quick ? [1] : (env.BENCH_VIEWERS ?? '1,5,10').split(',').map(Number),
    warmupMs: quick ? 500 : Number(env.BENCH_WARMUP_MS ?? 3000),
    windowMs: quick ? 2000 : Number(env.BENCH_WINDOW_MS ?? 10000),
    ...(env.BENCH_SENDERS ? { senders: env.BENCH_SENDERS.split(',') } : {}),
  });
}

if (want('memory')) {
  // `kvs-edge run` idle and with viewers, start-up to READY=1, against the bare Node: bench/memory.ts.
  console.log(`\n## Memory and start-up of kvs-edge run (production mode, 720p30 pattern)`);
  const env = process.env;
  await runMemoryBench({
    viewerCounts: quick ? [1, 2] : (env.BENCH_VIEWERS ?? '1,5,10').split(',').map(Number),
    warmupMs: quick ? 1000 : Number(env.BENCH_WARMUP_MS ?? 5000),
    windowMs: quick ? 2000 : Number(env.BENCH_WINDOW_MS ?? 10000),
    startups: quick ? 2 : Number(env.BENCH_STARTUPS ?? 5),
    ...(env.BENCH_NODE_ARGS ? { nodeArgs: env.BENCH_NODE_ARGS.split(' ').filter(Boolean) } : {}),
    ...(env.BENCH_NODE ? { node: env.BENCH_NODE } : {}),
    ...(env.BENCH_ENV ? { env: Object.fromEntries(env.BENCH_ENV.split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) } : {}),
  });
}
