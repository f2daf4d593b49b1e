// Every remote command: its argument schema and what it asks of the DeviceController.
// Arguments are validated before anything runs; nothing here spawns a process or a shell
// (reboot runs the argv from the local configuration, never text from MQTT). set-config passes
// the allow-list of ../config/remote-fields.ts before anything is validated, written or applied.
import { z } from 'zod';
import { issuesFromZod, formatIssue } from '../config/errors.js';
import { redactConfig } from '../config/load.js';
import { checkRemotePatch, notRemotelySettable } from '../config/remote-fields.js';
import { LOG_LEVELS } from '../log/logger.js';
import type { DeviceController } from '../runtime/controller.js';
import { RemoteError } from './remote-error.js';

const noArgs = z.strictObject({});

export const commandArgs = {
  ping: noArgs,
  status: noArgs,
  start: noArgs,
  stop: noArgs,
  restart: noArgs,
  keyframe: noArgs,
  'set-bitrate': z.strictObject({ kbps: z.number().int().min(50).max(50000) }),
  'set-video': z.strictObject({
    width: z.number().int().min(160).max(3840),
    height: z.number().int().min(120).max(2160),
    fps: z.number().int().min(1).max(60),
  }),
  viewers: noArgs,
  'kick-viewer': z.strictObject({ clientId: z.string().min(1).max(256) }),
  'get-config': noArgs,
  'set-config': z.strictObject({ patch: z.record(z.string(), z.unknown()) }),
  'set-log-level': z.strictObject({ level: z.enum(LOG_LEVELS) }),
  reboot: noArgs,
} as const;

export type CommandName = keyof typeof commandArgs;
export const COMMAND_NAMES = Object.keys(commandArgs) as CommandName[];

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commandArgs, name);
}

export function parseArgs<C extends CommandName>(command: C, args: unknown): z.output<(typeof commandArgs)[C]> {
  const schema = commandArgs[command];
  const r = schema.safeParse(args ?? {});
  if (!r.success) {
    const issues = issuesFromZod(r.error, args ?? {}).map((i) => ({ ...i, field: `args.${i.field === '(root)' ? '' : i.field}`.replace(/\.$/, '') }));
    throw new RemoteError('ERR_BAD_ARGS', `bad arguments for ${command}: ${issues.map(formatIssue).join('; ')}`);
  }
  return r.data as z.output<(typeof commandArgs)[C]>;
}

/** Refuses a command whose fields this device's mqtt.remoteSettable leaves out. */
async function requireSettable(controller: DeviceController, command: CommandName, fields: readonly string[]): Promise<void> {
  const off = notRemotelySettable(fields, await controller.getConfig());
  if (off.length) {
    throw new RemoteError('ERR_FORBIDDEN_FIELD', `${command} refused, nothing was changed: ${off.join(', ')}: not remotely settable: not on this device's list (mqtt.remoteSettable in its configuration)`);
  }
}

export interface CommandOutcome {
  result: unknown;
  /** Extra event to publish when this command changed something worth telling the fleet. */
  event?: Record<string, unknown>;
}

/** Runs a validated command. Throws RemoteError (or an error with a `code`) to reject. */
export async function runCommand(controller: DeviceController, command: CommandName, rawArgs: unknown): Promise<CommandOutcome> {
  switch (command) {
    case 'ping':
      parseArgs(command, rawArgs);
      return { result: { pong: true, time: new Date().toISOString() } };
    case 'status':
      parseArgs(command, rawArgs);
      return { result: await controller.status() };
    case 'start':
      parseArgs(command, rawArgs);
      return { result: await controller.start() };
    case 'stop':
      parseArgs(command, rawArgs);
      return { result: await controller.stop() };
    case 'restart':
      parseArgs(command, rawArgs);
      return { result: await controller.restart() };
    case 'keyframe':
      parseArgs(command, rawArgs);
      await controller.keyframe();
      return { result: { requested: true } };
    case 'set-bitrate': {
      const { kbps } = parseArgs(command, rawArgs);
      await requireSettable(controller, command, ['video.bitrate.startKbps']);
      return { result: await controller.setBitrate(kbps) };
    }
    case 'set-video': {
      const args = parseArgs(command, rawArgs);
      await requireSettable(controller, command, ['video.width', 'video.height', 'video.fps']);
      return { result: await controller.setVideo(args) };
    }
    case 'viewers':
      parseArgs(command, rawArgs);
      return { result: { viewers: await controller.viewers() } };
    case 'kick-viewer': {
      const { clientId } = parseArgs(command, rawArgs);
      if (!(await controller.kickViewer(clientId))) {
        throw new RemoteError('ERR_VIEWER_UNKNOWN', `no viewer with clientId ${JSON.stringify(clientId)} is connected`);
      }
      return { result: { kicked: clientId } };
    }
    case 'get-config':
      parseArgs(command, rawArgs);
      return { result: { config: redactConfig(await controller.getConfig()) } };
    case 'set-config': {
      const { patch } = parseArgs(command, rawArgs);
      const { changed, refusals } = checkRemotePatch(patch, await controller.getConfig());
      if (refusals.length) {
        throw new RemoteError('ERR_FORBIDDEN_FIELD', `set-config refused, nothing was changed: ${refusals.join('. ')}`);
      }
      if (changed.length === 0) throw new RemoteError('ERR_BAD_ARGS', 'bad arguments for set-config: args.patch is empty');
      const config = await controller.setConfig(patch);
      return { result: { config: redactConfig(config) }, event: { type: 'config-applied', changed } };
    }
    case 'set-log-level': {
      const { level } = parseArgs(command, rawArgs);
      await requireSettable(controller, command, ['logging.level']);
      await controller.setLogLevel(level);
      return { result: { level } };
    }
    case 'reboot': {
      parseArgs(command, rawArgs);
      const config = await controller.getConfig();
      if (!config.system.reboot.enabled) {
        throw new RemoteError('ERR_DISABLED', 'reboot is disabled on this device (system.reboot.enabled is false in its configuration)');
      }
      await controller.reboot();
      return { result: { rebooting: true } };
    }
  }
}
