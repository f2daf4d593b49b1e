import t from 'tap';
import { Role, SignalingClient as SdkSignalingClient } from 'amazon-kinesis-video-streams-webrtc';
import { startLocalService } from '../../ts/local/index.js';
import type { IceCandidate, SessionDescription } from '../../ts/kvs/index.js';
import { installWsGlobal, next, ourClient } from './helpers.js';

// The official KVS JavaScript SDK's SignalingClient (unmodified, in Node with `ws`) talks to our
// client through the local service over WSS, in both roles.

t.test('KVS JS SDK viewer <-> our master, over WSS with SigV4', async (t) => {
  const svc = await startLocalService({ tls: true, turn: false, channels: ['cam'] });
  t.teardown(() => svc.close());
  t.teardown(installWsGlobal(svc.caCert));
  const { cp, client: master } = await ourClient(svc, 'cam', 'MASTER');
  t.teardown(() => {
    master.close();
    cp.close();
  });
  await master.open();

  const viewer = new SdkSignalingClient({
    channelARN: svc.channelArn('cam'),
    channelEndpoint: svc.wssEndpoint,
    clientId: 'sdk-viewer-1',
    role: Role.VIEWER,
    region: svc.region,
    credentials: svc.credentials,
  });
  t.teardown(() => viewer.close());
  const errors: unknown[] = [];
  viewer.on('error', (e: unknown) => errors.push(e));
  const opened = next(viewer, 'open');
  viewer.open();
  await opened;

  // master answers whatever offer arrives, then sends a candidate
  master.on('sdpOffer', (offer: SessionDescription, from: string) => {
    master.sendSdpAnswer({ type: 'answer', sdp: `answer-to:${offer.sdp}` }, from);
    master.sendIceCandidate({ candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }, from);
  });
  const gotOffer = next<[SessionDescription, string]>(master, 'sdpOffer');
  const gotViewerCandidate = next<[IceCandidate, string]>(master, 'iceCandidate');
  const gotAnswer = next<[{ type: string; sdp: string }]>(viewer, 'sdpAnswer');
  const gotMasterCandidate = next<[{ candidate: string; sdpMid: string }]>(viewer, 'iceCandidate');
  viewer.sendSdpOffer({ type: 'offer', sdp: 'v=0 offer-from-sdk' } as never);
  viewer.sendIceCandidate({ candidate: 'candidate:2 1 udp 2122260223 127.0.0.1 6000 typ host', sdpMid: '0', sdpMLineIndex: 0 } as never);

  const [offer, sender] = await gotOffer;
  t.same(offer, { type: 'offer', sdp: 'v=0 offer-from-sdk' });
  t.equal(sender, 'sdk-viewer-1', 'the master sees the viewer client id');
  const [cand, candSender] = await gotViewerCandidate;
  t.match(cand, { candidate: /typ host/, sdpMid: '0', sdpMLineIndex: 0 });
  t.equal(candSender, 'sdk-viewer-1');
  const [answer] = await gotAnswer;
  t.same(answer, { type: 'answer', sdp: 'answer-to:v=0 offer-from-sdk' });
  const [mc] = await gotMasterCandidate;
  t.match(mc, { candidate: /127\.0\.0\.1 5000/, sdpMid: '0' });
  t.same(errors, [], 'the SDK saw no error');
});

t.test('KVS JS SDK master <-> our viewer', async (t) => {
  const svc = await startLocalService({ tls: true, turn: false, channels: ['cam2'] });
  t.teardown(() => svc.close());
  t.teardown(installWsGlobal(svc.caCert));
  const sdkMaster = new SdkSignalingClient({
    channelARN: svc.channelArn('cam2'),
    channelEndpoint: svc.wssEndpoint,
    role: Role.MASTER,
    region: svc.region,
    credentials: svc.credentials,
  });
  t.teardown(() => sdkMaster.close());
  const opened = next(sdkMaster, 'open');
  sdkMaster.open();
  await opened;
  sdkMaster.on('sdpOffer', (offer: { sdp: string }, remoteClientId: string) => {
    sdkMaster.sendSdpAnswer({ type: 'answer', sdp: `sdk-answer:${offer.sdp}` } as never, remoteClientId);
    sdkMaster.sendIceCandidate({ candidate: 'candidate:9 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } as never, remoteClientId);
  });
  const gotSdkCandidate = next<[{ candidate: string }, string]>(sdkMaster, 'iceCandidate');

  const { cp, client: viewer } = await ourClient(svc, 'cam2', 'VIEWER', 'our-viewer');
  t.teardown(() => {
    viewer.close();
    cp.close();
  });
  await viewer.open();
  const gotAnswer = next<[SessionDescription, string]>(viewer, 'sdpAnswer');
  const gotCandidate = next<[IceCandidate, string]>(viewer, 'iceCandidate');
  viewer.sendSdpOffer({ type: 'offer', sdp: 'v=0 ours' });
  viewer.sendIceCandidate({ candidate: 'candidate:3 1 udp 5 127.0.0.1 7 typ host', sdpMid: '0', sdpMLineIndex: 0 });
  const [answer] = await gotAnswer;
  t.same(answer, { type: 'answer', sdp: 'sdk-answer:v=0 ours' });
  const [cand] = await gotCandidate;
  t.equal(cand.candidate, 'candidate:9 1 udp 1 127.0.0.1 9 typ host');
  const [sdkCand, from] = await gotSdkCandidate;
  t.equal(sdkCand.candidate, 'candidate:3 1 udp 5 127.0.0.1 7 typ host');
  t.equal(from, 'our-viewer');
});
