// Public face of ts/remote.
export { RemoteControl, MAX_PAYLOAD_BYTES, type Answer, type RemoteControlEvents, type RemoteControlOptions } from './remote-control.js';
export { FleetClient, type FleetClientEvents, type FleetClientOptions, type SendOptions } from './fleet-client.js';
export { COMMAND_NAMES, commandArgs, isCommandName, type CommandName } from './commands.js';
export { RemoteError, type WireError } from './remote-error.js';
export { expandPrefix, topicsFor, type Topics } from './topics.js';
