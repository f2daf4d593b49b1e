import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { DescribeSignalingChannelCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { ControlPlane, StaticCredentialsProvider, createChannelSignaling } from '../../ts/kvs/index.js';
import { next, waitFor } from './helpers.js';

interface Banner {
  endpoint: string;
  wssEndpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  channels: Record<string, string>;
  stun: string | null;
  turn: boolean;
}

t.test('kvs-edge local: prints its endpoint, serves the channels, GO_AWAY and exit 0 on SIGTERM', async (t) => {
  const code = `
    const { localCommand } = await import('./ts/local/localCommand.ts');
    process.exitCode = await localCommand.run(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, '--', '--channel', 'front,back', '--no-turn'], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const lines = createInterface({ input: child.stdout });
  const [line] = await next<[string]>(lines, 'line', 60_000);
  const banner = JSON.parse(line) as Banner;
  t.match(banner, { region: 'us-west-2', turn: false, stun: /^stun:127\.0\.0\.1:\d+$/ });
  t.same(Object.keys(banner.channels).sort(), ['back', 'front']);

  const kv = new KinesisVideoClient({ region: banner.region, endpoint: banner.endpoint, credentials: banner.credentials, maxAttempts: 1 });
  t.teardown(() => kv.destroy());
  const d = await kv.send(new DescribeSignalingChannelCommand({ ChannelName: 'front' }));
  t.equal(d.ChannelInfo?.ChannelARN, banner.channels['front']);

  const credentials = new StaticCredentialsProvider(banner.credentials);
  const cp = new ControlPlane({ region: banner.region, channelName: 'back', endpoint: banner.endpoint, credentials, maxAttempts: 1 });
  const master = await createChannelSignaling({ controlPlane: cp, credentials, role: 'MASTER', backoff: { initialMs: 50, maxMs: 200 } });
  t.teardown(() => {
    master.close();
    cp.close();
  });
  await master.open();
  const status = next<[{ correlationId: string; description: string }]>(master, 'statusResponse');
  master.sendSdpAnswer({ type: 'answer', sdp: 'v=0\r\n' }, 'ghost', 'c-ghost-1');
  const [resp] = await status;
  t.match(resp, { correlationId: 'c-ghost-1', description: /recipient ghost is not connected/ });
  t.ok(await waitFor(() => /master on arn:aws:kinesisvideo:.*back.* not delivered: SDP_ANSWER dropped: recipient ghost is not connected \(InvalidArgumentException; STATUS_RESPONSE sent\)/.test(stderr)), 'the drop is logged with its reason');
  const goAway = next(master, 'goAway');
  child.kill('SIGTERM');
  await goAway;
  t.pass('the master got GO_AWAY when the service was stopped');
  t.equal(await exited, 0, 'exit code 0');
});
