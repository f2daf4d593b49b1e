import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Clock,
  EnvCredentialsProvider,
  ProfileCredentialsProvider,
  RefreshingCredentialsProvider,
  StaticCredentialsProvider,
  backoffDelay,
  parseIni,
  type AwsCredentials,
} from '../../ts/kvs/index.js';

t.test('static and environment providers', async (t) => {
  t.throws(() => new StaticCredentialsProvider({ accessKeyId: '', secretAccessKey: 'x' }), { code: 'ERR_KVS_BAD_ARGUMENT' });
  const s = new StaticCredentialsProvider({ accessKeyId: 'AK', secretAccessKey: 'SK' });
  t.same(await s.getCredentials(), { accessKeyId: 'AK', secretAccessKey: 'SK' });

  const env: NodeJS.ProcessEnv = { AWS_ACCESS_KEY_ID: 'AK1', AWS_SECRET_ACCESS_KEY: 'SK1', AWS_SESSION_TOKEN: 'TOK' };
  t.same(await new EnvCredentialsProvider(env).getCredentials(), { accessKeyId: 'AK1', secretAccessKey: 'SK1', sessionToken: 'TOK' });
  await t.rejects(new EnvCredentialsProvider({}).getCredentials(), { code: 'ERR_KVS_CREDENTIALS', message: /AWS_ACCESS_KEY_ID/ });
  await t.rejects(
    new EnvCredentialsProvider({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_CREDENTIAL_EXPIRATION: 'soon' }).getCredentials(),
    { code: 'ERR_KVS_CREDENTIALS', message: /not a date/ },
  );
  // rotated by a supervisor: re-read once the old ones are about to expire
  const rot: NodeJS.ProcessEnv = { AWS_ACCESS_KEY_ID: 'OLD', AWS_SECRET_ACCESS_KEY: 's', AWS_CREDENTIAL_EXPIRATION: new Date(Date.now() + 1000).toISOString() };
  const p = new EnvCredentialsProvider(rot, { refreshMarginMs: 5000 });
  t.equal((await p.getCredentials()).accessKeyId, 'OLD');
  rot['AWS_ACCESS_KEY_ID'] = 'NEW';
  rot['AWS_CREDENTIAL_EXPIRATION'] = new Date(Date.now() + 3_600_000).toISOString();
  t.equal((await p.getCredentials()).accessKeyId, 'NEW', 'credentials inside the refresh margin were reloaded');
  t.equal((await p.getCredentials()).accessKeyId, 'NEW');
});

t.test('shared config/credentials profile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-profile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const credentialsFile = join(dir, 'credentials');
  const configFile = join(dir, 'config');
  writeFileSync(credentialsFile, '# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key=SKDEF\n\n[cam]\naws_access_key_id=AKCAM\naws_secret_access_key = SKCAM\naws_session_token = TOKCAM\n');
  writeFileSync(configFile, '[default]\nregion = us-west-2\n[profile lab]\naws_access_key_id=AKLAB\naws_secret_access_key=SKLAB\n');
  t.same(await new ProfileCredentialsProvider({ credentialsFile, configFile, profile: 'default' }).getCredentials(), { accessKeyId: 'AKDEF', secretAccessKey: 'SKDEF' });
  t.same(await new ProfileCredentialsProvider({ credentialsFile, configFile, profile: 'cam' }).getCredentials(), {
    accessKeyId: 'AKCAM',
    secretAccessKey: 'SKCAM',
    sessionToken: 'TOKCAM',
  });
  t.equal((await new ProfileCredentialsProvider({ credentialsFile, configFile, profile: 'lab' }).getCredentials()).accessKeyId, 'AKLAB', 'keys in ~/.aws/config under [profile lab]');
  await t.rejects(new ProfileCredentialsProvider({ credentialsFile, configFile, profile: 'none' }).getCredentials(), {
    code: 'ERR_KVS_CREDENTIALS',
    message: /profile "none"/,
  });
  await t.rejects(
    new ProfileCredentialsProvider({ credentialsFile: join(dir, 'missing'), configFile: join(dir, 'missing2') }).getCredentials(),
    { code: 'ERR_KVS_CREDENTIALS' },
  );
  t.same([...(parseIni('[a]\nk = v = w\n; c\nbad line\n').get('a') ?? new Map())], [['k', 'v = w']]);
});

t.test('refreshing provider: one load for concurrent callers, refresh before expiry, forceRefresh', async (t) => {
  let loads = 0;
  class Counting extends RefreshingCredentialsProvider {
    ttlMs = 60_000;
    protected async load(): Promise<AwsCredentials> {
      loads++;
      await new Promise((r) => setTimeout(r, 10));
      return { accessKeyId: `K${loads}`, secretAccessKey: 's', expiration: new Date(this.clock.nowMs() + this.ttlMs) };
    }
  }
  const clock = new Clock();
  const p = new Counting({ clock, refreshMarginMs: 10_000 });
  const all = await Promise.all([p.getCredentials(), p.getCredentials(), p.getCredentials()]);
  t.equal(loads, 1);
  t.same(all.map((c) => c.accessKeyId), ['K1', 'K1', 'K1']);
  clock.setOffsetMs(55_000); // now inside the margin
  t.equal((await p.getCredentials()).accessKeyId, 'K2');
  t.equal((await p.getCredentials({ forceRefresh: true })).accessKeyId, 'K3');
});

t.test('clock corrects from Date headers beyond its tolerance only', async (t) => {
  const c = new Clock();
  t.equal(c.updateFromDateHeader(new Date(Date.now() + 1000).toUTCString()), false, 'a second off is noise');
  t.equal(c.updateFromDateHeader(new Date(Date.now() + 3_600_000).toUTCString()), true);
  t.ok(Math.abs(c.skewMs - 3_600_000) < 2000);
  t.equal(c.updateFromDateHeader('garbage'), false);
  t.equal(c.updateFromDateHeader(undefined), false);
});

t.test('backoff: exponential, capped, jittered', async (t) => {
  const o = { initialMs: 100, maxMs: 1000, jitter: 0.5 };
  t.same([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  t.same([0, 3, 10].map((a) => backoffDelay(a, o, () => 1)), [50, 400, 500]);
  for (let a = 0; a < 50; a++) t.ok(backoffDelay(a, o) <= 1000, `attempt ${a} within the cap`);
});

t.test('a refresh that fails inside the margin keeps the still-valid credentials; a forced one fails', async (t) => {
  let fail = false;
  let n = 0;
  class Flaky extends RefreshingCredentialsProvider {
    protected async load(): Promise<AwsCredentials> {
      if (fail) throw new Error('IoT endpoint unreachable');
      n++;
      return { accessKeyId: `K${n}`, secretAccessKey: 's', expiration: new Date(this.clock.nowMs() + 60_000) };
    }
  }
  const clock = new Clock();
  const p = new Flaky({ clock, refreshMarginMs: 30_000 });
  t.equal((await p.getCredentials()).accessKeyId, 'K1');
  clock.setOffsetMs(40_000); // inside the margin, 20 s left
  fail = true;
  t.equal((await p.getCredentials()).accessKeyId, 'K1', 'old credentials while they still work');
  await t.rejects(p.getCredentials({ forceRefresh: true }), { message: /unreachable/ });
  clock.setOffsetMs(59_000); // 1 s left: no longer worth handing out
  await t.rejects(p.getCredentials(), { message: /unreachable/ });
  fail = false;
  t.equal((await p.getCredentials()).accessKeyId, 'K2');
});
