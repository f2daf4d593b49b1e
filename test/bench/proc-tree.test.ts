// The peer benchmark's process-tree meter (bench/peers/proc-tree.ts) on a real process tree: a
// parent that starts a child which does a fixed amount of work and exits during the window. It
// asserts what the meter must see (the child, its CPU kept after it exited, both RSS), never speed.
import { spawn } from 'node:child_process';
import t from 'tap';
import { measureTree, processTree, slope, threadRunTimes, treeRssMiB } from '../../bench/peers/proc-tree.js';

// Parent: waits 0.3 s, starts the child, lives on until killed. Child: a fixed amount of work
// (CPU time, whatever the machine's load), then 0.6 s idle so the meter sees its last run time,
// then exits.
const CHILD = 'let x = 0; for (let i = 0; i < 1e8; i++) x = (x + i) % 1000003; setTimeout(() => process.exit(x < 0 ? 1 : 0), 600);';
const PARENT = `setTimeout(() => require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(CHILD)}], { stdio: 'ignore' }), 300); setInterval(() => {}, 1000);`;

t.test('the tree meter counts a child that starts and exits during the window', async (t) => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: 'ignore' });
  t.teardown(() => { parent.kill('SIGKILL'); });
  const pid = parent.pid!;
  await new Promise((r) => setTimeout(r, 100));
  t.same(processTree(pid), [pid], 'before the child: the tree is the parent alone');
  const idle = await measureTree(pid, 200, { pollMs: 50 });
  // One window long enough for the child to start, do its work and exit even on a loaded machine.
  const w = await measureTree(pid, 12000, { pollMs: 100 });
  t.ok(w.threadsStarted > 0, `threads started during the window counted (${w.threadsStarted})`);
  t.ok(w.threadsExited > 0, `threads that exited during the window counted (${w.threadsExited})`);
  t.equal(w.processes, 1, 'at the end the child has gone and the tree is the parent alone');
  // 1e8 dependent integer divisions cost well over 150 ms of CPU on any machine (a few ns each);
  // the idle parent costs next to nothing: most of what the window holds is the exited child's.
  const cpuMs = (w.cpuPct / 100) * w.windowS * 1000;
  t.ok(cpuMs > 150, `the exited child's CPU is kept in the window's figure (${cpuMs.toFixed(0)} ms)`);
  t.ok(idle.cpuPct >= 0 && idle.rssMiB > 1, `the idle parent alone: ${idle.cpuPct.toFixed(3)} %, ${idle.rssMiB.toFixed(1)} MiB`);
  t.equal(w.subWindowCpuPct.length, 5, 'five sub-window figures');
  t.ok(w.rssMiB > 1 && w.rssMiBMax >= w.rssMiB && w.rssMiBEnd > 1, `RSS mean ${w.rssMiB.toFixed(1)}, peak ${w.rssMiBMax.toFixed(1)}, end ${w.rssMiBEnd.toFixed(1)} MiB`);
  t.ok(w.polls > 20, `polled during the window (${w.polls})`);
});

t.test('run times, RSS and the tree of a live pair of processes', async (t) => {
  const parent = spawn(process.execPath, ['-e', `require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); setInterval(() => {}, 1000);`], { stdio: 'ignore' });
  t.teardown(() => { parent.kill('SIGKILL'); });
  const pid = parent.pid!;
  let tree = processTree(pid);
  for (let i = 0; i < 100 && tree.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    tree = processTree(pid);
  }
  t.equal(tree.length, 2, 'the parent and its child');
  const runs = threadRunTimes(tree);
  t.ok([...runs.keys()].some((k) => k.startsWith(`${tree[1]}/`)) && [...runs.keys()].some((k) => k.startsWith(`${pid}/`)), 'threads of both processes');
  t.ok([...runs.values()].every((ns) => Number.isInteger(ns) && ns >= 0), 'run times in whole ns');
  const both = treeRssMiB(tree);
  t.ok(both > treeRssMiB([pid]) && both > 2, `RSS summed over both (${both.toFixed(1)} MiB)`);
  t.equal(treeRssMiB([2 ** 22 + 12345]), 0, 'a process that does not exist counts 0');
  for (const p of [...tree].reverse()) {
    try {
      process.kill(p, 'SIGKILL'); // the child first, then the parent (killing the parent leaves the child running)
    } catch { /* gone */ }
  }
});

t.test('least-squares slope and its standard error', async (t) => {
  t.same(slope([1, 5, 10], [2, 6, 11]), { slope: 1 }, 'exact line');
  const s = slope([1, 5, 10], [1, 1, 1], [0.1, 0.1, 0.1]);
  t.equal(s.slope, 0);
  // se = sqrt(sum (x - mean)^2 * 0.01) / Sxx = 0.1 / sqrt(Sxx), Sxx = 122/3.
  t.ok(Math.abs(s.se! - 0.1 / Math.sqrt(122 / 3)) < 1e-12, `standard error ${s.se}`);
  t.ok(Number.isNaN(slope([5, 5], [1, 2]).slope), 'one viewer count: no slope');
});
