// Runs the configured reboot command: an argv from the local configuration, spawned without a
// shell, so no text (and certainly nothing from MQTT) is ever interpreted by one.
import { spawn } from 'node:child_process';

export interface RebootResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export function runRebootCommand(argv: readonly string[], timeoutMs = 30_000): Promise<RebootResult> {
  const [file, ...args] = argv;
  if (!file) {
    return Promise.reject(Object.assign(new TypeError('reboot command is empty (system.reboot.command)'), { code: 'ERR_REBOOT_COMMAND' }));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { shell: false, stdio: 'ignore', timeout: timeoutMs });
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(Object.assign(new Error(`reboot command ${file} could not run: ${e.code ?? e.message}`), { code: 'ERR_REBOOT_COMMAND' }));
    });
    child.once('exit', (exitCode, signal) => {
      if (exitCode === 0) resolve({ exitCode, signal });
      else {
        const how = signal ? `was killed by ${signal}` : `exited with ${String(exitCode)}`;
        reject(Object.assign(new Error(`reboot command ${file} ${how}`), { code: 'ERR_REBOOT_COMMAND' }));
      }
    });
  });
}
