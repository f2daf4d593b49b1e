// Public face of ts/config.
export { configSchema, configJsonSchema, ENCODERS, type Config, type ConfigInput } from './schema.js';
export { REMOTE_CHOICE_FIELDS, REMOTE_SETTABLE_FIELDS, REMOTE_VALUE_FIELDS, checkRemotePatch, type RemotePatchCheck } from './remote-fields.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export {
  ENV_OVERRIDES,
  applyEnv,
  defaultConfig,
  loadConfigFile,
  mergePatch,
  parseConfigText,
  redactConfig,
  validateConfig,
  type LoadedConfig,
} from './load.js';
export { ConfigStore, type ApplyFn, type ConfigStoreEvents, type ConfigStoreOptions } from './config-store.js';
export { writeFileAtomic } from './atomic-write.js';
export {
  DEFAULT_BOARDS_DIR,
  boardProfileSchema,
  detectBoard,
  findBoard,
  loadBoardProfiles,
  readHostFacts,
  type BoardProfile,
  type Detection,
  type HostFacts,
} from './boards.js';
export { fsEncoderChecker, probe, type EncoderCheck, type EncoderChecker, type ProbeOptions, type ProbeReport } from './probe.js';
