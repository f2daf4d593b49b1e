// The V4L2 capture source and M2M encoder against real Linux kernel drivers: Debian's kernel
// booted under qemu runs the static test binary (cpp/test/hw/v4l2_hw_check.cpp) against vivid
// (capture) and vicodec (stateful FWHT encoder), in single- and multi-planar modes.
// scripts/qemu/run-v4l2-test.sh builds and boots everything; this file asserts on what the guest
// reported. Skipped, with the reason, when qemu or the kernel packages are missing.
// The script picks the accelerator by what boots (KVM, else TCG; KVS_QEMU_ACCEL forces one) and
// says which ran ("HW ACCEL ..."). A guest that never boots is one failure with the script's
// reason, not every guest assertion failing behind it.
import t from 'tap';
import { join } from 'node:path';
import { root, runScript } from '../support/run-script.js';

const script = join(root, 'scripts', 'qemu', 'run-v4l2-test.sh');
const VM_TIMEOUT_S = 200; // qemu itself (inside the script, killed by `timeout`)
const HARD_TIMEOUT_MS = 420_000; // the whole script: build + boot; the process group is killed

const run = await runScript([script], HARD_TIMEOUT_MS, { KVS_QEMU_TIMEOUT: String(VM_TIMEOUT_S) });
const skip = /^SKIP: (.*)$/m.exec(run.stdout);

if (run.code === 77 && skip) {
  t.comment(`skipped: ${skip[1]}`);
  t.pass(`skipped: ${skip[1]}`, { skip: skip[1] });
} else {
  const lines = run.stdout.split('\n');
  const accel = /^HW ACCEL (\S+) reason=(.*)$/m.exec(run.stdout);
  const diagnostics = () => `${run.stdout.slice(-4000)}\n${run.stderr.slice(-2000)}`;
  t.comment(accel ? `accelerator: ${accel[1]} (${accel[2]})` : 'accelerator: not reported (the script stopped before booting)');
  const booted = /^HW BOOT /m.test(run.stdout);
  if (!booted) {
    const noBoot = /^(NO-BOOT: .*|VM timed out .*)$/m.exec(run.stdout)?.[1];
    t.fail(`the VM booted: ${noBoot ?? (run.killed ? `script killed after ${HARD_TIMEOUT_MS / 1000}s` : `script exited ${run.code} before a guest booted`)}`, {
      diagnostic: true,
      accel: accel?.[1],
      output: diagnostics(),
    });
  } else {
    const summaries = new Map<string, { pass: number; fail: number }>();
    for (const l of lines) {
      const m = /^HW SUMMARY (\S+) pass=(\d+) fail=(\d+)/.exec(l);
      if (m) summaries.set(m[1]!, { pass: Number(m[2]), fail: Number(m[3]) });
    }
    // "HW DATA k=v k=v ... api=single|mplane" -> data[api][k] = v
    const data: Record<string, Record<string, string>> = {};
    for (const l of lines) {
      if (!l.startsWith('HW DATA ')) continue;
      const kv = Object.fromEntries(
        l.slice(8).trim().split(/\s+/).map((p) => p.split('=') as [string, string]),
      );
      const api = kv['api'] ?? 'any';
      data[api] = { ...(data[api] ?? {}), ...kv };
    }

    t.test('the VM booted, ran every phase and powered off in time', async (t) => {
      t.notOk(run.killed, `script finished within ${HARD_TIMEOUT_MS / 1000}s`);
      t.match(run.stdout, /HW BOOT kernel 6\.1\./, 'the guest booted Debian 6.1 kernel');
      for (const phase of ['capture', 'capture-mplane', 'encoder', 'encoder-mplane', 'pipeline', 'media-pipeline'])
        t.ok(summaries.has(phase), `phase ${phase} reported a summary`);
      t.match(run.stdout, /KVS-HW-RESULT: PASS/, 'guest result line says PASS');
      t.equal(run.code, 0, 'script exit status');
      if (run.code !== 0) t.comment(diagnostics());
    });

    t.test('no check inside the VM failed', async (t) => {
      const failed = lines.filter((l) => l.startsWith('HW not ok'));
      t.same(failed, [], 'failed guest checks');
      const minimum: Record<string, number> = {
        capture: 15,
        'capture-mplane': 15,
        encoder: 39,
        'encoder-mplane': 39,
        pipeline: 10,
        'media-pipeline': 10,
      };
      for (const [phase, min] of Object.entries(minimum)) {
        const s = summaries.get(phase);
        t.ok(s && s.fail === 0 && s.pass >= min, `${phase}: ${s?.pass ?? 0} passed (>= ${min}), ${s?.fail ?? '?'} failed`);
      }
    });

    t.test('vivid capture: frames, size, rate, timestamps', async (t) => {
      for (const api of ['single', 'mplane']) {
        const d = data[api] ?? {};
        t.equal(d['capture_frames'], '10', `${api}: 10 frames captured from vivid`);
        const interval = Number(d['capture_interval_ms']);
        t.ok(interval > 30 && interval < 250, `${api}: driver timestamps ${interval.toFixed(1)} ms apart at 25 fps (40 ms, never faster; slower only on a loaded host under TCG)`);
      }
      t.equal(data['any']?.['capture_nv12_negotiated'], '320x180', 'NV12 320x240 request negotiated to a size vivid offers');
    });

    t.test('vicodec M2M encoder: frames in, buffers out, keyframe, drain, recovery', async (t) => {
      for (const api of ['single', 'mplane']) {
        const d = data[api] ?? {};
        t.equal(d['encoder_frames'], '8', `${api}: 8 raw frames in -> 8 compressed buffers out`);
        t.equal(d['encoder_keyframes'], '1', `${api}: only the first of them is an I-frame`);
        t.equal(d['encoder_forced_keyframe'], '1', `${api}: a keyframe request gives an I-frame next`);
        t.equal(d['encoder_drained'], '3', `${api}: drain (V4L2_ENC_CMD_STOP -> LAST) returns the 3 queued frames`);
        t.equal(d['encoder_reopens'], '1', `${api}: a failed device is reopened once and encoding goes on`);
      }
    });

    t.test('what the encoder produced decodes back to the input pictures (vicodec decoder)', async (t) => {
      for (const api of ['single', 'mplane']) {
        for (const fmt of ['YU12', 'NV12', 'YUYV']) {
          const v = data[api]?.[`roundtrip_${fmt}_mad`];
          const [y, u, vv] = (v ?? '').split(',').map(Number);
          t.ok(
            v !== undefined && y! < 6 && u! < 4 && vv! < 4,
            `${api} ${fmt} input: mean abs difference after encode+decode Y ${y} U ${u} V ${vv}`,
          );
        }
      }
    });

    t.test('zero-copy: vivid buffers exported as DMABUF are encoded in place by vicodec', async (t) => {
      const d = data['single'] ?? {};
      t.equal(d['pipeline_frames'], '10', '10 camera buffers in -> 10 coded buffers out');
      const [y, u, v] = (d['pipeline_mad'] ?? '').split(',').map(Number);
      t.ok(y! < 8 && u! < 6 && v! < 6, `decoded pictures match the captured ones (Y ${y} U ${u} V ${v})`);
    });

    t.test('the runtime pipeline in the VM: vivid -> VideoPipeline, auto falls back from vicodec (FWHT) to openh264', async (t) => {
      const d = data['any'] ?? {};
      t.equal(d['media_pipeline_encoder'], 'openh264', 'auto did not take vicodec: it does not encode H.264');
      t.ok(Number(d['media_pipeline_frames']) >= 12, `${d['media_pipeline_frames']} H.264 frames from the vivid camera through the pipeline`);
      const interval = Number(d['media_pipeline_interval_ms']);
      t.ok(interval > 30 && interval < 250, `frames carry the driver's timestamps, ${interval.toFixed(1)} ms apart at 25 fps (40 ms, never faster; slower only on a loaded host under TCG)`);
      t.equal(d['media_pipeline_size'], '640x480', 'negotiated size');
      t.equal(d['auto_verify_encoder'], 'openh264', 'a M2M encoder that opens but gives no H.264 (vicodec asked for FWHT) is replaced by openh264 at run time');
    });
  }
}
