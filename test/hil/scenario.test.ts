// The HIL scenario (`kvs-edge hil`, scripts/hil/scenario) against a camera run here: a real
// mosquitto, `kvs-edge run --local` (its own local KVS service), native viewers. The report must
// show each step done and what the viewers saw: frames, the bitrate falling after set-bitrate, a
// requested keyframe, a kicked viewer that stops receiving while the others go on.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startBroker } from '../remote/fixtures/broker.js';
import { cliReady as ready, kvsEdge as start, startLocalCamera } from '../runtime/fixtures/local-camera.js';
import type { ScenarioReport } from '../../ts/hil/scenario.js';

t.test('the HIL scenario passes against a local camera and reports what the viewers saw', { skip: !ready && 'needs dist/ and the addon (npm run setup)', timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-hil-'));
  const broker = await startBroker();
  t.teardown(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const cam = await startLocalCamera(t, {
    deviceId: 'hil-cam-1',
    channel: { name: 'hil-chan' },
    // A long GOP, so the keyframe step can tell a requested keyframe from a periodic one.
    video: { width: 640, height: 480, fps: 30, keyframeInterval: 600, bitrate: { minKbps: 50, startKbps: 1200, maxKbps: 2000 } },
    mqtt: { enabled: true, url: broker.url, telemetryIntervalSec: 1 },
  });
  const json = join(dir, 'report.json');
  const tapFile = join(dir, 'report.tap');
  const hil = start(['hil', '--device', 'hil-cam-1', '--channel', 'hil-chan', '--url', broker.url, ...cam.viewerArgs, '--viewers', '3', '--window', '3',
    '--json', json, '--tap', tapFile]);
  const code = await hil.exit;
  t.equal(code, 0, `hil exits 0 (stderr: ${hil.err().slice(-1500)})`);
  const r = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
  t.same(r.steps.map((s) => s.name), ['status', 'connect', 'viewers', 'measure', 'bitrate', 'keyframe', 'kick'], 'every step ran');
  for (const s of r.steps) t.ok(s.ok, `${s.name}: ${s.summary}`);
  t.equal(r.ok, true);
  const step = (name: string): Record<string, unknown> => r.steps.find((s) => s.name === name)!.data;
  const connect = step('connect') as { viewers: { timeToFirstFrameMs?: number; phases: { iceMs?: number; dtlsMs?: number } }[] };
  t.equal(connect.viewers.length, 3);
  for (const v of connect.viewers) {
    t.type(v.timeToFirstFrameMs, 'number', 'each viewer has a time to first frame');
    t.type(v.phases.dtlsMs, 'number', 'and its DTLS phase');
  }
  const measure = step('measure') as { windows: { fps: number; frames: number }[] };
  for (const w of measure.windows) t.ok(w.fps > 10, `a viewer measured ${w.fps} fps`);
  const bitrate = step('bitrate') as { targetKbps: number; beforeKbps: number; afterKbps: number };
  t.equal(bitrate.targetKbps, Math.max(50, Math.round(bitrate.beforeKbps / 3)), 'the default target is a third of the measured rate');
  t.ok(bitrate.afterKbps < bitrate.beforeKbps * 0.7, `viewers saw the rate fall: ${bitrate.beforeKbps} -> ${bitrate.afterKbps} kbps`);
  const keyframe = step('keyframe') as { latenciesMs: (number | null)[]; conclusive: boolean };
  t.equal(keyframe.conclusive, true, 'a 20 s GOP makes the keyframe step conclusive');
  t.ok(keyframe.latenciesMs.every((l) => typeof l === 'number'), `keyframe latencies ${JSON.stringify(keyframe.latenciesMs)} ms`);
  const kick = step('kick') as { ended: boolean; framesStopped: boolean; listedAfter: string[]; clientId: string };
  t.ok(kick.ended && kick.framesStopped, 'the kicked viewer stopped receiving');
  t.notOk(kick.listedAfter.includes(kick.clientId), 'and is no longer listed');
  const tap = readFileSync(tapFile, 'utf8');
  t.match(tap, /^TAP version 14\n/);
  t.match(tap, /^1\.\.7$/m);
  t.notMatch(tap, /^not ok/m, 'the TAP report has no failures');
  t.equal(tap.match(/^ok \d+ - /gm)?.length, 7);
  await cam.stop();
});

t.test('hil: usage errors exit 2 and name the option', { skip: !ready && 'needs dist/', timeout: 30_000 }, async (t) => {
  const none = start(['hil', '--channel', 'x']);
  t.equal(await none.exit, 2);
  t.match(none.err(), /--device is required/);
  const bad = start(['hil', '--device', 'd', '--channel', 'x', '--viewers', '40']);
  t.equal(await bad.exit, 2);
  t.match(bad.err(), /--viewers needs an integer in \[1, 10\], got "40"/);
});

t.test('hil: a device that is not there fails the status step, exit 1, with a report', { skip: !ready && 'needs dist/', timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-hil-none-'));
  const broker = await startBroker();
  t.teardown(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const json = join(dir, 'r.json');
  const hil = start(['hil', '--device', 'nobody', '--channel', 'none', '--url', broker.url, '--access-key', 'AKIAAAAAAAAAAAAAAAAA', '--secret-key', 'x', '--json', json]);
  t.equal(await hil.exit, 1);
  const r = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
  t.equal(r.ok, false);
  t.equal(r.steps[0]?.name, 'status');
  t.match(r.steps[0]?.summary ?? '', /no retained status from nobody/);
  t.match(hil.out(), /^not ok 1 - status: /m);
});
