// The configuration file of a running device, with a last-known-good copy beside it.
// Remote changes go through update(): validate, write crash-safely, apply, and on failure
// restore the previous version and re-apply it.
import { EventEmitter } from 'node:events';
import { existsSync, unlinkSync } from 'node:fs';
import { writeFileAtomic, removeStaleTempFiles } from './atomic-write.js';
import { ConfigError } from './errors.js';
import {
  applyEnv,
  formatOf,
  mergePatch,
  readConfigDocument,
  validateConfig,
  yaml,
  type ConfigFormat,
} from './load.js';
import type { Config } from './schema.js';

export type ApplyFn = (next: Config, previous: Config) => void | Promise<void>;

export interface ConfigStoreEvents {
  applied: [{ config: Config; previous: Config }];
  'rolled-back': [{ config: Config; rejected: Config; error: Error }];
}

export interface ConfigStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** When the file is missing, start from defaults (the file is created on the first change). */
  allowMissing?: boolean;
  /** When the file does not parse or validate, run on the last-known-good copy instead of failing. */
  fallbackToLastGood?: boolean;
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  readonly file: string;
  readonly lastGoodFile: string;
  /** Exists only while a change is being applied; found at startup it means the process died mid-apply. */
  readonly pendingFile: string;
  readonly format: ConfigFormat;
  readonly #env: NodeJS.ProcessEnv;
  #document: Record<string, unknown>;
  #config: Config;
  #queue: Promise<unknown> = Promise.resolve();
  /** Why the main file was not used at startup, when the last-known-good copy was. */
  readonly recoveredFrom: ConfigError | undefined;

  constructor(file: string, options: ConfigStoreOptions = {}) {
    super();
    this.file = file;
    this.lastGoodFile = `${file}.last-good`;
    this.pendingFile = `${file}.pending`;
    this.format = formatOf(file);
    this.#env = options.env ?? process.env;
    removeStaleTempFiles(file);
    removeStaleTempFiles(this.lastGoodFile);
    removeStaleTempFiles(this.pendingFile);
    let loaded: { document: Record<string, unknown>; config: Config } | undefined;
    let recovered: ConfigError | undefined;
    if (existsSync(this.pendingFile) && existsSync(this.lastGoodFile)) {
      // The last run died (or was killed, or the change hung the device) while applying a change
      // that was never confirmed: go back to the version that was running before it.
      loaded = this.#load(this.lastGoodFile);
      writeFileAtomic(file, this.serialize(loaded.document));
      unlinkSync(this.pendingFile);
      recovered = new ConfigError(
        'ERR_CONFIG_UNCONFIRMED',
        `the previous run stopped while applying a configuration change; restored ${this.lastGoodFile}`,
      );
    } else if (!existsSync(file) && options.allowMissing) {
      loaded = this.#load(undefined);
    } else {
      try {
        loaded = this.#load(file);
      } catch (e) {
        if (!(e instanceof ConfigError) || !options.fallbackToLastGood || !existsSync(this.lastGoodFile)) throw e;
        recovered = e;
        loaded = this.#load(this.lastGoodFile);
      }
    }
    this.#document = loaded.document;
    this.#config = loaded.config;
    this.recoveredFrom = recovered;
  }

  #load(file: string | undefined): { document: Record<string, unknown>; config: Config } {
    const raw = file === undefined ? {} : readConfigDocument(file).document;
    const { doc, sources } = applyEnv(raw, this.#env);
    const config = validateConfig(doc, file ?? 'the default configuration', sources);
    return { document: raw as Record<string, unknown>, config };
  }

  /** The effective configuration (file + defaults + environment). */
  get config(): Config {
    return this.#config;
  }

  /** The file's own content, without defaults or environment values (secrets stay out of the file). */
  get document(): Record<string, unknown> {
    return structuredClone(this.#document);
  }

  serialize(document: Record<string, unknown>): string {
    return this.format === 'yaml' ? yaml().stringify(document) : JSON.stringify(document, null, 2) + '\n';
  }

  /** Validates a merge patch against the current file without changing anything. */
  preview(patch: unknown): { document: Record<string, unknown>; config: Config } {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new ConfigError('ERR_CONFIG_INVALID', 'a configuration patch must be an object', [
        { field: 'patch', value: patch, allowed: 'an object of fields to change' },
      ]);
    }
    const document = mergePatch(this.#document, patch) as Record<string, unknown>;
    const { doc, sources } = applyEnv(document, this.#env);
    return { document, config: validateConfig(doc, 'the changed configuration', sources) };
  }

  /**
   * Applies a merge patch: validate (nothing changes when invalid), keep the current version as
   * last-known-good, write the new one, run `apply`. When `apply` throws, the file and the
   * running state go back to the previous version and the error says so.
   */
  update(patch: unknown, apply: ApplyFn): Promise<Config> {
    const run = this.#queue.then(() => this.#update(patch, apply));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #update(patch: unknown, apply: ApplyFn): Promise<Config> {
    const { document, config } = this.preview(patch);
    const previous = this.#config;
    const previousDoc = this.#document;
    writeFileAtomic(this.lastGoodFile, this.serialize(previousDoc));
    writeFileAtomic(this.pendingFile, JSON.stringify({ since: new Date().toISOString(), pid: process.pid }) + '\n');
    writeFileAtomic(this.file, this.serialize(document));
    try {
      await apply(config, previous);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      writeFileAtomic(this.file, this.serialize(previousDoc));
      this.#clearPending();
      let reapplyError: Error | undefined;
      try {
        await apply(previous, config);
      } catch (e2) {
        reapplyError = e2 instanceof Error ? e2 : new Error(String(e2));
      }
      this.emit('rolled-back', { config: previous, rejected: config, error });
      const more = reapplyError ? `; re-applying the previous configuration also failed: ${reapplyError.message}` : '';
      throw Object.assign(
        new ConfigError(
          'ERR_CONFIG_APPLY_FAILED',
          `the configuration change could not be applied and was rolled back: ${error.message}${more}`,
        ),
        { cause: error, rolledBack: true },
      );
    }
    this.#document = document;
    this.#config = config;
    // The new version is running, so it is now the last known good one.
    writeFileAtomic(this.lastGoodFile, this.serialize(document));
    this.#clearPending();
    this.emit('applied', { config, previous });
    return config;
  }

  #clearPending(): void {
    try {
      unlinkSync(this.pendingFile);
    } catch {
      /* already gone */
    }
  }

  /** Replaces the file with the last-known-good copy and reloads it; returns the restored configuration. */
  rollback(): Config {
    if (!existsSync(this.lastGoodFile)) {
      throw new ConfigError('ERR_CONFIG_NO_LAST_GOOD', `there is no last-known-good copy (${this.lastGoodFile})`);
    }
    const loaded = this.#load(this.lastGoodFile);
    writeFileAtomic(this.file, this.serialize(loaded.document));
    this.#document = loaded.document;
    this.#config = loaded.config;
    return loaded.config;
  }

  /** Writes a whole document (validated first). */
  save(document: Record<string, unknown>): Config {
    const { doc, sources } = applyEnv(document, this.#env);
    const config = validateConfig(doc, 'the configuration to save', sources);
    writeFileAtomic(this.file, this.serialize(document));
    this.#document = structuredClone(document);
    this.#config = config;
    return config;
  }
}
