// The credentials provider the configuration names.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import {
  EnvCredentialsProvider,
  IotCredentialsProvider,
  ProfileCredentialsProvider,
  StaticCredentialsProvider,
  type CredentialsProvider,
} from '../kvs/index.js';

function readFile(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError('ERR_CONFIG_READ', `credentials.${field}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, [
      { field: `credentials.${field}`, value: file, allowed: 'a readable PEM file' },
    ]);
  }
}

export function credentialsFromConfig(c: Config['credentials'], env: NodeJS.ProcessEnv = process.env): CredentialsProvider {
  switch (c.source) {
    case 'environment':
      return new EnvCredentialsProvider(env);
    case 'static':
      return new StaticCredentialsProvider({
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
      });
    case 'profile':
      return new ProfileCredentialsProvider({ profile: c.profile, ...(c.file ? { credentialsFile: c.file } : {}) });
    case 'iot':
      return new IotCredentialsProvider({
        endpoint: c.endpoint,
        roleAlias: c.roleAlias,
        thingName: c.thingName,
        cert: readFile(c.certFile, 'certFile'),
        key: readFile(c.keyFile, 'keyFile'),
        ...(c.caFile ? { ca: readFile(c.caFile, 'caFile') } : {}),
      });
  }
}
