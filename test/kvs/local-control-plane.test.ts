import t from 'tap';
import {
  CreateSignalingChannelCommand,
  DescribeSignalingChannelCommand,
  GetSignalingChannelEndpointCommand,
  KinesisVideoClient,
} from '@aws-sdk/client-kinesis-video';
import { GetIceServerConfigCommand, KinesisVideoSignalingClient } from '@aws-sdk/client-kinesis-video-signaling';
import { startLocalService } from '../../ts/local/index.js';

t.test('unmodified @aws-sdk control-plane and signaling clients against the local service', async (t) => {
  const svc = await startLocalService({ turn: false });
  t.teardown(() => svc.close());
  const kv = new KinesisVideoClient({ region: svc.region, endpoint: svc.endpoint, credentials: svc.credentials, maxAttempts: 1 });
  t.teardown(() => kv.destroy());

  const created = await kv.send(
    new CreateSignalingChannelCommand({
      ChannelName: 'cam-1',
      ChannelType: 'SINGLE_MASTER',
      SingleMasterConfiguration: { MessageTtlSeconds: 30 },
      Tags: [{ Key: 'site', Value: 'lab' }],
    }),
  );
  t.equal(created.ChannelARN, svc.channelArn('cam-1'));

  const described = await kv.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam-1' }));
  t.equal(described.ChannelInfo?.ChannelARN, created.ChannelARN);
  t.equal(described.ChannelInfo?.ChannelStatus, 'ACTIVE');
  t.equal(described.ChannelInfo?.SingleMasterConfiguration?.MessageTtlSeconds, 30);
  t.ok(described.ChannelInfo?.CreationTime instanceof Date);

  await t.rejects(kv.send(new DescribeSignalingChannelCommand({ ChannelName: 'nope' })), { name: 'ResourceNotFoundException' });
  await t.rejects(kv.send(new CreateSignalingChannelCommand({ ChannelName: 'cam-1' })), { name: 'ResourceInUseException' });

  const ep = await kv.send(
    new GetSignalingChannelEndpointCommand({
      ChannelARN: created.ChannelARN,
      SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'VIEWER' },
    }),
  );
  const https = ep.ResourceEndpointList?.find((e) => e.Protocol === 'HTTPS')?.ResourceEndpoint;
  const wss = ep.ResourceEndpointList?.find((e) => e.Protocol === 'WSS')?.ResourceEndpoint;
  t.equal(https, svc.endpoint);
  t.equal(wss, svc.wssEndpoint);

  const sig = new KinesisVideoSignalingClient({ region: svc.region, endpoint: https, credentials: svc.credentials, maxAttempts: 1 });
  t.teardown(() => sig.destroy());
  const ice = await sig.send(new GetIceServerConfigCommand({ ChannelARN: created.ChannelARN, ClientId: 'viewer-1' }));
  const stun = ice.IceServerList?.find((s) => s.Uris?.some((u) => u.startsWith('stun:')));
  t.equal(stun?.Uris?.[0], svc.stunUrl);
  t.ok((stun?.Ttl ?? 0) > 30, 'Ttl over 30 s (the C SDK re-fetches otherwise)');
});

t.test('SigV4: wrong secret, unknown key and skewed clock are refused with the AWS error shape', async (t) => {
  const svc = await startLocalService({ turn: false, stun: false, channels: ['cam'] });
  t.teardown(() => svc.close());
  const mk = (credentials: { accessKeyId: string; secretAccessKey: string }, systemClockOffset = 0): KinesisVideoClient =>
    new KinesisVideoClient({ region: svc.region, endpoint: svc.endpoint, credentials, maxAttempts: 1, systemClockOffset });
  const wrongSecret = mk({ accessKeyId: svc.credentials.accessKeyId, secretAccessKey: 'wrong' });
  t.teardown(() => wrongSecret.destroy());
  await t.rejects(wrongSecret.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam' })), {
    name: 'InvalidSignatureException',
    $metadata: { httpStatusCode: 403 },
  });
  const unknownKey = mk({ accessKeyId: 'AKIANOTKNOWN', secretAccessKey: svc.credentials.secretAccessKey });
  t.teardown(() => unknownKey.destroy());
  await t.rejects(unknownKey.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam' })), {
    name: 'UnrecognizedClientException',
  });
  const wrongRegion = new KinesisVideoClient({ region: 'eu-west-1', endpoint: svc.endpoint, credentials: svc.credentials, maxAttempts: 1 });
  t.teardown(() => wrongRegion.destroy());
  await t.rejects(wrongRegion.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam' })), {
    name: 'InvalidSignatureException',
    message: /region/,
  });
  const skewed = mk(svc.credentials, -20 * 60_000);
  t.teardown(() => skewed.destroy());
  await t.rejects(skewed.send(new DescribeSignalingChannelCommand({ ChannelName: 'cam' })), {
    name: 'InvalidSignatureException',
    message: /Signature expired/,
  });
  const missing = await fetch(`${svc.endpoint}/describeSignalingChannel`, {
    method: 'POST',
    body: JSON.stringify({ ChannelName: 'cam' }),
    headers: { 'content-type': 'application/json' },
  });
  t.equal(missing.status, 403);
  t.equal(missing.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
  t.match(await missing.json(), { message: 'Missing Authentication Token' });
});

t.test('bad input on the control plane: clear AWS-shaped errors, the service goes on', async (t) => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const svc = await startLocalService({ turn: false, stun: false, channels: ['cam'], maxBodyBytes: 64 * 1024 });
  t.teardown(() => svc.close());
  const url = new URL(svc.endpoint);
  const signer = new SignatureV4({ service: 'kinesisvideo', region: svc.region, credentials: svc.credentials, sha256: Sha256 });
  const call = async (path: string, body: string): Promise<{ status: number; type: string | null; json: unknown }> => {
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path,
      headers: { host: url.host, 'content-type': 'application/json' },
      body,
    });
    const res = await fetch(`${svc.endpoint}${path}`, { method: 'POST', headers: signed.headers, body });
    return { status: res.status, type: res.headers.get('x-amzn-errortype'), json: await res.json() };
  };
  const notJson = await call('/describeSignalingChannel', 'this is not json');
  t.match(notJson, { status: 400, type: 'SerializationException', json: { message: /not a JSON object/ } });
  const unknown = await call('/deleteEverything', '{}');
  t.match(unknown, { status: 404, type: 'UnknownOperationException' });
  const noName = await call('/describeSignalingChannel', '{}');
  t.match(noName, { status: 400, type: 'InvalidArgumentException' });
  const badName = await call('/createSignalingChannel', JSON.stringify({ ChannelName: 'has spaces' }));
  t.match(badName, { status: 400, type: 'InvalidArgumentException' });
  const huge = await call('/describeSignalingChannel', JSON.stringify({ ChannelName: 'x'.repeat(100 * 1024) }));
  t.match(huge, { status: 413, type: 'SerializationException' });
  const ok = await call('/describeSignalingChannel', JSON.stringify({ ChannelName: 'cam' }));
  t.equal(ok.status, 200, 'a signed raw request works, and the service is still up');
  const tamperedBody = await (async () => {
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/describeSignalingChannel', headers: { host: url.host }, body: '{"ChannelName":"cam"}' });
    const res = await fetch(`${svc.endpoint}/describeSignalingChannel`, { method: 'POST', headers: signed.headers, body: '{"ChannelName":"other"}' });
    return res.status;
  })();
  t.equal(tamperedBody, 403, 'a body changed after signing is refused');
});
