// The engine answers @roamhq/wrtc (libwebrtc in Node); frames counted after decoding by its
// nonstandard RTCVideoSink.
//
// The prebuilt @roamhq/wrtc 0.10.0 (linux-x64) is built without H.264: its offers list VP8,
// VP9 and AV1 only. Against it, what a user sees is the engine refusing the offer with an error
// that says H.264 is missing, so that is what is asserted; the frame test runs as soon as the
// installed build can receive H.264.
import t from 'tap';
import { NativeError } from '../../ts/native/index.js';
import { WrtcViewer, wrtcSupportsH264 } from '../peers/wrtc.js';
import { assertVideo, engine, streamToViewer } from './engine-session.js';

const h264 = wrtcSupportsH264();

t.test('wrtc decodes the engine H.264', { skip: h264 ? false : '@roamhq/wrtc build has no H.264 decoder (offer lists VP8/VP9/AV1 only)' }, async (t) => {
  const r = await streamToViewer(t, new WrtcViewer({ name: 'wrtc' }));
  if (r) assertVideo(t, r);
});

t.test('a wrtc offer without H.264 is refused with an error naming H.264', { skip: h264 ? 'this wrtc build offers H.264' : false }, async (t) => {
  const viewer = new WrtcViewer({ name: 'wrtc' });
  t.teardown(() => viewer.close());
  const { pc } = engine(t);
  const offer = await viewer.createOffer();
  t.notMatch(offer, /H264/i, 'offer has no H.264');
  const err: unknown = await pc.setRemoteOffer(offer).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof NativeError, `rejects with NativeError (got ${String(err)})`);
  t.equal((err as NativeError).code, 'ERR_SDP_UNSUPPORTED');
  t.match((err as NativeError).message, /H\.?264/i, 'message names H.264');
});
