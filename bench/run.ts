// npm run bench: prints figures; never a pass/fail test. Results also go to bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchKvsEdgeTtff } from './ttff.js';
import { main as benchEncoder } from './encoder.js';

// `npm run bench -- encoder`: only the software encoder benchmark (bench/encoder.ts).
if (process.argv.slice(2).includes('encoder')) {
  await benchEncoder();
  process.exit(0);
}

const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };

console.log(`# kvs-edge benchmarks (${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB)`);
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

await benchEncoder();
