// The reboot command is an argv run without a shell: shell syntax stays literal text.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRebootCommand } from '../../ts/runtime/reboot.js';

t.test('runs the argv, never a shell', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-reboot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'pwned');
  const out = join(dir, 'out');
  // If a shell saw this, `touch` would create the marker file.
  await runRebootCommand([process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, process.argv.slice(1).join('|'))`, `; touch ${marker}`, '$(id)']);
  t.equal(readFileSync(out, 'utf8'), `; touch ${marker}|$(id)`, 'arguments arrive literally');
  t.notOk(existsSync(marker), 'no shell ran');
  await t.rejects(runRebootCommand([join(dir, 'missing')]), { code: 'ERR_REBOOT_COMMAND', message: /could not run: ENOENT/ });
  await t.rejects(runRebootCommand(['/bin/false']), { code: 'ERR_REBOOT_COMMAND', message: /exited with 1/ });
  await t.rejects(runRebootCommand([]), { code: 'ERR_REBOOT_COMMAND' });
});
