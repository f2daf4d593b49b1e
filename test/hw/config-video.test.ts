// The video part of the configuration for the hardware media path: v4l2 and raw pipe sources,
// v4l2m2m/auto encoders, capture timestamps, what reaches the native track (board profile facts
// included), and clear errors for what cannot work.
import t from 'tap';
import { validateConfig } from '../../ts/config/load.js';
import { ConfigError } from '../../ts/config/errors.js';
import { findBoard, loadBoardProfiles, parseBoardProfile } from '../../ts/config/boards.js';
import { videoTrackSource } from '../../ts/runtime/device.js';

function fails(doc: unknown): string {
  try {
    validateConfig(doc, 'test.json');
  } catch (e) {
    t.type(e, ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a configuration error');
}

t.test('accepted: v4l2 capture, raw pipe, v4l2m2m and auto encoders, capture timestamps', async (t) => {
  const v4l2 = validateConfig({ video: { source: { type: 'v4l2', device: '/dev/video2', format: 'YUYV' }, encoder: 'v4l2m2m', encoderDevice: '/dev/video11', captureTimestamps: true } });
  t.match(v4l2.video, { source: { type: 'v4l2', device: '/dev/video2', format: 'YUYV' }, encoder: 'v4l2m2m', encoderDevice: '/dev/video11', captureTimestamps: true });
  t.match(validateConfig({ video: { source: { type: 'v4l2' } } }).video, { source: { type: 'v4l2', device: '/dev/video0', format: 'auto' }, encoder: 'auto', captureTimestamps: false });
  t.match(validateConfig({ video: { source: { type: 'pipe', command: ['rpicam-vid', '-o', '-'], format: 'nv12' } } }).video.source, { type: 'pipe', format: 'nv12' });
  t.match(validateConfig({ video: { source: { type: 'pipe', command: ['x'] } } }).video.source, { format: 'h264' }, 'pipe defaults to H.264 passthrough');
  t.match(validateConfig({ video: { source: { type: 'v4l2', format: 'H264' }, encoder: 'passthrough' } }).video.encoder, 'passthrough');
});

t.test('refused with a message naming the field and the reason', async (t) => {
  t.match(fails({ video: { source: { type: 'v4l2', format: 'MJPEG' } } }), /video\.source\.format.*MJPEG is not supported: kvs-edge does not decode JPEG/s);
  t.match(fails({ video: { source: { type: 'v4l2', format: 'RGB3' } } }), /video\.source\.format.*one of auto, NV12, YU12, I420, YUYV, H264/s);
  t.match(fails({ video: { source: { type: 'pipe', command: ['x'], format: 'rgb24' } } }), /video\.source\.format/);
  t.match(fails({ video: { encoder: 'nvenc' } }), /video\.encoder/);
  t.match(fails({ video: { source: { type: 'pipe', command: ['x'] }, encoder: 'openh264' } }), /video\.encoder.*must be auto or passthrough: source pipe gives H\.264 already/s);
  t.match(fails({ video: { source: { type: 'pattern' }, encoder: 'passthrough' } }), /video\.encoder.*passthrough needs an H\.264 source/s);
  t.match(fails({ video: { source: { type: 'v4l2', format: 'NV12' }, encoder: 'passthrough' } }), /passthrough needs H\.264 from the camera/);
  t.match(fails({ video: { width: 641 } }), /width and height must be even/);
  t.match(fails({ video: { encoderDevice: '' } }), /video\.encoderDevice/);
  t.match(fails({ video: { captureTimestamps: 'yes' } }), /video\.captureTimestamps/);
});

t.test('what reaches the native track: the board profile supplies device, quirks, control ids, alignment', async (t) => {
  const pi = findBoard(loadBoardProfiles(), 'rpi-4');
  const c = validateConfig({ video: { source: { type: 'v4l2', device: '/dev/video0' }, captureTimestamps: true } });
  t.same(videoTrackSource(c, pi), {
    source: 'v4l2',
    device: '/dev/video0',
    encoder: 'auto',
    encoderDevice: '/dev/video11',
    encoderQuirks: ['stateful-encoder', 'needs-stride-multiple-of-32'],
    captureTimestamps: true,
  });
  const custom = parseBoardProfile(
    {
      id: 'custom-soc',
      name: 'Custom SoC',
      arch: ['aarch64'],
      match: { model: ['Custom'] },
      encoders: [{ kind: 'v4l2m2m', device: '/dev/video40', driver: 'vendor-enc', maxWidth: 1920, maxHeight: 1080, controls: { bitrate: 0x9909cf, idrPeriod: 0x990b66 }, align: { width: 64, height: 16 } }],
      cameras: [],
    },
    'test profile',
  );
  t.match(videoTrackSource(validateConfig({ video: { encoder: 'v4l2m2m' } }), custom), {
    source: 'pattern',
    encoder: 'v4l2m2m',
    encoderDevice: '/dev/video40',
    encoderBitrateCid: 0x9909cf,
    encoderIdrPeriodCid: 0x990b66,
    encoderWidthAlign: 64,
    encoderHeightAlign: 16,
  });
  t.match(videoTrackSource(validateConfig({ video: { encoderDevice: '/dev/video12' } }), pi), { encoderDevice: '/dev/video12' }, 'video.encoderDevice overrides the profile');
  t.notOk('encoderQuirks' in videoTrackSource(validateConfig({ video: { encoderDevice: '/dev/video12' } }), pi), "another node does not inherit the profile encoder's quirks");
  t.match(videoTrackSource(validateConfig({ video: { source: { type: 'v4l2' }, encoder: 'passthrough' } }), null), { captureFormat: 'H264' }, 'passthrough asks the camera for H.264');
  t.throws(() => parseBoardProfile({ id: 'x', name: 'x', arch: ['x'], match: { arch: ['x'] }, encoders: [{ kind: 'v4l2m2m', device: '/dev/v', driver: 'd', maxWidth: 1, maxHeight: 1, align: { width: 0 } }], cameras: [] }, 'bad'), /align\.width/);
});
