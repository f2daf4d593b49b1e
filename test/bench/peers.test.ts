// Smoke test of the side-by-side sender benchmark (bench/peers.ts) in quick mode: one connection
// and one viewer per sender, a short window. It asserts that the harness works — every sender
// delivered frames to the engine viewer and the JSON report carries the figures — never speed.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runPeerBench, type PeerBenchReport } from '../../bench/peers.js';

const SENDERS = ['kvs-edge', 'kvs-edge-file', 'gstreamer', 'gstreamer-encode', 'node-datachannel', 'werift'];

t.test('quick run: every sender delivers frames and the report has the figures', async (t) => {
  const outDir = mkdtempSync(join(tmpdir(), 'kvs-edge-bench-test-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  const report = await runPeerBench({ connections: 1, viewerCounts: [1], warmupMs: 500, windowMs: 2000, frameTimeoutMs: 30000, outDir, log: (s) => t.comment(s) });
  t.same(report.senders.map((s) => s.name), SENDERS, 'all six senders ran');
  for (const s of report.senders) {
    t.equal(s.status, 'ok', `${s.name}: ok ${s.errors.join('; ')}`);
    t.equal(s.ttff?.samplesMs.length, 1, `${s.name}: a time to first frame measured`);
    t.ok((s.ttff?.p50 ?? 0) > 0, `${s.name}: time to first frame is a positive number of ms`);
    const step = s.load.find((l) => l.viewers === 1);
    t.equal(step?.status, 'ok', `${s.name}: one viewer measured`);
    t.ok((step?.fpsPerViewer?.[0] ?? 0) > 0, `${s.name}: the viewer received frames during the window (${step?.fpsPerViewer?.[0]} fps)`);
    t.ok((step?.cpuPct ?? 0) > 0, `${s.name}: CPU of the sender's process tree measured (${step?.cpuPct} %)`);
    t.type(step?.cpuPctSe, 'number', `${s.name}: with its standard error (${step?.cpuPctSe} %)`);
    t.equal(step?.subWindowCpuPct?.length, 5, `${s.name}: from five sub-windows`);
    t.ok((step?.rssMiB ?? 0) > 1, `${s.name}: RSS measured (${step?.rssMiB} MiB)`);
    t.ok((step?.processes ?? 0) >= 1 && (step?.threads ?? 0) >= 1, `${s.name}: ${step?.processes} process(es), ${step?.threads} threads`);
  }
  // kvs-edge encodes the raw pattern it reads from a gst-launch-1.0 child: the child is part of
  // the measured tree, and what it sends is the encoded stream (the kbps figure is not asserted).
  const kvs = report.senders.find((s) => s.name === 'kvs-edge')?.load[0];
  t.ok((kvs?.processes ?? 0) >= 2, `kvs-edge: its gst-launch-1.0 child is counted in its tree (${kvs?.processes} processes)`);
  t.ok((kvs?.kbpsPerViewer?.[0] ?? 0) > 0, `kvs-edge: H.264 received (${kvs?.kbpsPerViewer?.[0]} kbps)`);
  t.ok(report.files && existsSync(report.files.json) && existsSync(report.files.markdown), 'JSON and Markdown written');
  const json = JSON.parse(readFileSync(report.files!.json, 'utf8')) as PeerBenchReport;
  t.same(json.senders.map((s) => [s.name, s.ttff?.p50, s.load[0]?.cpuPct, s.load[0]?.rssMiB]), report.senders.map((s) => [s.name, s.ttff?.p50, s.load[0]?.cpuPct, s.load[0]?.rssMiB]), 'the JSON holds the same figures');
  t.ok(json.machine.cores > 0 && json.machine.cpu.length > 0 && json.machine.kernel.length > 0, 'the machine is described');
  t.match(json.machine.versions, { gstreamer: /^1\./, werift: /^\d/, 'node-datachannel': /^\d/ }, 'package versions recorded');
  t.equal(json.ratios.ttff.length, 2 * 4, 'time-to-first-frame ratios for both kvs-edge variants against the four peers');
  const md = readFileSync(report.files!.markdown, 'utf8');
  for (const name of SENDERS) t.match(md, new RegExp(`^\\| ${name} \\|`, 'm'), `Markdown row for ${name}`);
});

t.test('an unknown sender name is refused with a clear error', async (t) => {
  await t.rejects(runPeerBench({ senders: ['kvs-edge', 'nope'], log: () => undefined }), /unknown sender\(s\): nope/);
});

t.test('a sender whose viewer gets no frames is reported as failed, not measured', async (t) => {
  const outDir = mkdtempSync(join(tmpdir(), 'kvs-edge-bench-test-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  const silent = { name: 'silent', description: 'connects, sends nothing', command: process.execPath, args: ['--import', 'tsx', fileURLToPath(new URL('./fixtures/silent-sender.ts', import.meta.url))] };
  const report = await runPeerBench({ senders: ['silent'], extraSenders: [silent], connections: 1, viewerCounts: [1], warmupMs: 200, windowMs: 500, frameTimeoutMs: 4000, outDir, log: (s) => t.comment(s) });
  const s = report.senders[0]!;
  t.equal(s.status, 'failed');
  t.equal(s.ttff?.failures, 1, 'its connection counted as failed');
  t.match(s.errors.join('\n'), /no complete keyframe in 4000 ms \(ICE connected, DTLS connected, 0 video bytes, answer sendonly/, 'the reason says what the viewer saw');
  t.notOk(s.load.some((l) => l.cpuPct !== undefined), 'no CPU figure for it');
  t.equal(s.perViewer, undefined, 'no per-viewer cost for it');
  t.match(readFileSync(report.files!.markdown, 'utf8'), /^\| silent \(FAILED\) \|/m, 'the table marks it FAILED');
});
