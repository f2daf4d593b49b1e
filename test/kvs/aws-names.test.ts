// `kvs-edge local --aws-names` serves as AWS does, for clients that know only AWS's names: in a
// network namespace made for this test, a hosts file (ip netns exec bind-mounts
// /etc/netns/NAME/hosts over /etc/hosts) maps kinesisvideo.<region>.amazonaws.com, the m-/v-/r-
// signaling names and stun.kinesisvideo... to the service, which listens on 443. The AWS SDK v3
// clients with only a region, `kvs-edge run` configured with only a region and `kvs-edge view`
// with only a region run control plane, signaling and media through it, trusting the service's
// CA through NODE_EXTRA_CA_CERTS.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cliReady, bin } from '../runtime/fixtures/local-camera.js';
import { netnsUnavailable } from '../interop3/netns.js';

const unavailable = netnsUnavailable() ?? (cliReady ? null : 'needs dist/ and the addon (npm run setup)');
const ADDR = '10.251.0.1';
const REGION = 'us-west-2';

interface Proc {
  proc: ChildProcess;
  out(): string;
  err(): string;
  exit: Promise<number | null>;
}

t.test('AWS names on 443 in a namespace: SDK clients, kvs-edge run and view with no endpoint setting', { skip: unavailable ?? false, timeout: 180_000 }, async (t) => {
  const ns = `kvsaws-${process.pid.toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'kvs-aws-names-'));
  const procs: Proc[] = [];
  t.teardown(() => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  execFileSync('ip', ['netns', 'add', ns]);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    // a non-loopback interface, so that both peers gather a host candidate
    ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ['addr', 'add', `${ADDR}/24`, 'dev', 'v0'],
    ['link', 'set', 'v0', 'up'],
    ['link', 'set', 'v1', 'up'],
  ])
    execFileSync('ip', ['-n', ns, ...args]);

  const credentials = { accessKeyId: 'AKIALOCALAWSNAMES001', secretAccessKey: 'local-aws-names-secret-0123456789abcdef' };
  const caFile = join(dir, 'ca.pem');
  // Everything below runs in the namespace, with only PATH, the credentials and the CA in its environment.
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: REGION,
    NODE_EXTRA_CA_CERTS: caFile,
  };
  const inNs = (args: string[], extraEnv: Record<string, string> = {}): Proc => {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const p = { proc, out: () => out, err: () => err, exit: new Promise<number | null>((r) => proc.once('exit', (c) => r(c))) };
    procs.push(p);
    return p;
  };
  const until = async (cond: () => boolean, what: string, p: Proc, ms = 60_000): Promise<void> => {
    for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end || p.proc.exitCode !== null) throw new Error(`${what}: ${p.out().slice(-2000)} ${p.err().slice(-2000)}`);
    }
  };

  // --- the service, as AWS --------------------------------------------------------------
  const local = inNs([bin, 'local', '--aws-names', '--host', ADDR, '--region', REGION, '--channel', 'cam', '--ca-out', caFile,
    '--access-key-id', credentials.accessKeyId, '--secret-access-key', credentials.secretAccessKey]);
  await until(() => local.out().includes('\n'), 'kvs-edge local --aws-names did not start', local);
  const banner = JSON.parse(local.out().split('\n')[0]!) as { endpoint: string; wssEndpoint: string; hostNames: string[]; host: string; caFile: string; channels: Record<string, string> };
  t.equal(banner.endpoint, `https://kinesisvideo.${REGION}.amazonaws.com`, 'the control plane is AWS\'s regional name, no port');
  t.match(banner.wssEndpoint, new RegExp(`^wss://m-[0-9a-f]{8}\\.kinesisvideo\\.${REGION}\\.amazonaws\\.com$`), 'master WSS endpoint: m-<id>, no port');
  t.equal(banner.caFile, caFile);
  t.equal(banner.host, ADDR);
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n${banner.hostNames.map((n) => `${ADDR} ${n}`).join('\n')}\n`);
  const resolved = execFileSync('ip', ['netns', 'exec', ns, 'getent', 'hosts', `kinesisvideo.${REGION}.amazonaws.com`], { encoding: 'utf8' });
  t.match(resolved, new RegExp(`^${ADDR.replace(/\./g, '\\.')}\\s`), 'in the namespace the AWS name resolves to the service (and only there)');

  // --- unmodified AWS SDK v3 clients: a region, nothing else -----------------------------
  const sdk = inNs(['--input-type=module', '-e', `
    const { KinesisVideoClient, DescribeSignalingChannelCommand, GetSignalingChannelEndpointCommand } = await import('@aws-sdk/client-kinesis-video');
    const { KinesisVideoSignalingClient, GetIceServerConfigCommand } = await import('@aws-sdk/client-kinesis-video-signaling');
    const kv = new KinesisVideoClient({ region: '${REGION}', maxAttempts: 1 });
    const d = await kv.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam' }));
    const arn = d.ChannelInfo.ChannelARN;
    const ep = {};
    for (const Role of ['MASTER', 'VIEWER']) {
      const r = await kv.send(new GetSignalingChannelEndpointCommand({ ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role } }));
      ep[Role] = Object.fromEntries(r.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
    }
    const sig = new KinesisVideoSignalingClient({ region: '${REGION}', endpoint: ep.MASTER.HTTPS, maxAttempts: 1 });
    const ice = await sig.send(new GetIceServerConfigCommand({ ChannelARN: arn }));
    console.log(JSON.stringify({ arn, ep, ice: ice.IceServerList.length }));
  `]);
  t.equal(await sdk.exit, 0, `the AWS SDK clients ran with only a region (${sdk.err().slice(-500)})`);
  const r = JSON.parse(sdk.out().trim().split('\n').pop() ?? '{}') as { arn: string; ep: Record<string, Record<string, string>>; ice: number };
  t.equal(r.arn, banner.channels['cam']);
  const host = (n: string): RegExp => new RegExp(`^${n}-[0-9a-f]{8}\\.kinesisvideo\\.${REGION}\\.amazonaws\\.com$`);
  t.match(new URL(r.ep['MASTER']!['WSS']!).hostname, host('m'), 'master WSS: m-<id>');
  t.match(new URL(r.ep['VIEWER']!['WSS']!).hostname, host('v'), 'viewer WSS: v-<id>');
  t.match(new URL(r.ep['MASTER']!['HTTPS']!).hostname, host('r'), 'HTTPS: r-<id>');
  t.ok(Object.values(r.ep).flatMap((e) => Object.values(e)).every((u) => new URL(u).port === ''), 'no endpoint carries a port');
  t.ok(r.ice >= 1, 'GetIceServerConfig answered on the r- endpoint');

  // --- kvs-edge run: a region and a channel name, no endpoint ------------------------------
  const cfg = join(dir, 'cam.json');
  writeFileSync(cfg, JSON.stringify({ region: REGION, channel: { name: 'cam' }, logging: { format: 'json' }, video: { width: 320, height: 240 } }));
  const cam = inNs([bin, 'run', '--config', cfg]);
  await until(() => cam.err().includes('"device started"'), 'kvs-edge run did not start', cam);

  // --- a viewer with a region only ----------------------------------------------------
  const view = inNs([bin, 'view', '--channel', 'cam', '--region', REGION, '--access-key', credentials.accessKeyId, '--secret-key', credentials.secretAccessKey, '--duration', '3', '--json']);
  t.equal(await view.exit, 0, `view exits 0 (${view.err().slice(-800)})`);
  const v = JSON.parse(view.out().trim().split('\n').pop() ?? '{}') as { connected: boolean; frames: number };
  t.equal(v.connected, true, 'the viewer connected to the camera through the AWS names');
  t.ok(v.frames >= 30, `frames received (${v.frames})`);
  cam.proc.kill('SIGTERM');
  t.equal(await cam.exit, 0, 'the camera stops cleanly');
  local.proc.kill('SIGTERM');
  t.equal(await local.exit, 0, 'the service stops cleanly');
});
