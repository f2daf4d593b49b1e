// The audio section: an Ogg Opus file source and the talk-back sink (file wav|ogg, or a playback
// command as argv), each refused with a message that names the field when incomplete; and a file
// that is not Ogg Opus refused by the engine with the reason, also through `kvs-edge run`.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../ts/config/errors.js';
import { validateConfig } from '../../ts/config/load.js';
import { AudioTrack } from '../../ts/native/index.js';
import { talkbackSink } from '../../ts/runtime/device.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-audio-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function issue(doc: unknown): string {
  try {
    validateConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

t.test('valid audio sections', async (t) => {
  t.match(validateConfig({ audio: { source: 'file', path: '/srv/greeting.ogg' } }).audio, { source: 'file', path: '/srv/greeting.ogg', talkback: { sink: 'none' } });
  t.match(validateConfig({ audio: { source: 'tone', talkback: { sink: 'file', path: '/var/lib/kvs-edge/talk-{viewer}.ogg' } } }).audio.talkback, { sink: 'file', path: '/var/lib/kvs-edge/talk-{viewer}.ogg' });
  t.match(validateConfig({ audio: { talkback: { sink: 'file', path: '/tmp/t.wav', format: 'wav' } } }).audio.talkback, { format: 'wav' });
  t.match(validateConfig({ audio: { talkback: { sink: 'command', command: ['aplay', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-'] } } }).audio.talkback, { sink: 'command', command: ['aplay', '-f', 'S16_LE', '-r', '48000', '-c', '1', '-'] });
});

t.test('the runtime gives each viewer its sink: {viewer} becomes its (sanitized) client id', async (t) => {
  const file = validateConfig({ audio: { talkback: { sink: 'file', path: '/var/talk/{viewer}.ogg' } } });
  t.same(talkbackSink(file, 'door/../bell 1'), { audioSink: { path: '/var/talk/door_.._bell_1.ogg' } });
  // The client id is the viewer's choice: never a directory step, never a hidden file.
  const dir = validateConfig({ audio: { talkback: { sink: 'file', path: '/var/talk/{viewer}/in.ogg' } } });
  t.same(talkbackSink(dir, '..'), { audioSink: { path: '/var/talk/__/in.ogg' } });
  t.same(talkbackSink(dir, '.'), { audioSink: { path: '/var/talk/_/in.ogg' } });
  t.same(talkbackSink(file, '.hidden.v1'), { audioSink: { path: '/var/talk/_hidden.v1.ogg' } });
  const wav = validateConfig({ audio: { talkback: { sink: 'file', path: '/var/talk.raw', format: 'wav' } } });
  t.same(talkbackSink(wav, 'v'), { audioSink: { path: '/var/talk.raw', format: 'wav' } });
  const cmd = validateConfig({ audio: { talkback: { sink: 'command', command: ['aplay', '-'] } } });
  t.same(talkbackSink(cmd, 'v'), { audioSink: { command: ['aplay', '-'] } });
  t.same(talkbackSink(validateConfig({}), 'v'), {}, 'no sink by default');
});

t.test('incomplete or contradictory audio sections name the field', async (t) => {
  t.match(issue({ audio: { source: 'file' } }), /audio\.path[\s\S]*Ogg Opus/);
  t.match(issue({ audio: { source: 'tone', path: '/x.ogg' } }), /audio\.path[\s\S]*not "tone"/);
  t.match(issue({ audio: { source: 'mp3' } }), /audio\.source/);
  t.match(issue({ audio: { talkback: { sink: 'file' } } }), /audio\.talkback\.path[\s\S]*needs a path/);
  t.match(issue({ audio: { talkback: { sink: 'file', path: '/t.flac', format: 'flac' } } }), /audio\.talkback\.format/);
  t.match(issue({ audio: { talkback: { sink: 'command' } } }), /audio\.talkback\.command[\s\S]*argv/);
  t.match(issue({ audio: { talkback: { sink: 'command', command: 'aplay -' } } }), /audio\.talkback\.command/);
  t.match(issue({ audio: { talkback: { sink: 'command', command: [] } } }), /audio\.talkback\.command/);
  t.match(issue({ audio: { talkback: { sink: 'none', command: ['aplay'] } } }), /audio\.talkback\.command[\s\S]*not "none"/);
});

t.test('a file that is not Ogg Opus is refused with the reason', async (t) => {
  const wav = join(dir, 'not-ogg.ogg');
  writeFileSync(wav, Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.alloc(64)]));
  t.throws(() => new AudioTrack({ source: 'ogg', path: wav }), { code: 'ERR_MEDIA', message: /not-ogg\.ogg" is not a usable Ogg Opus file: .*no OggS capture pattern \(not an Ogg file\)/ });
  t.throws(() => new AudioTrack({ source: 'ogg', path: join(dir, 'missing.ogg') }), { code: 'ERR_MEDIA', message: /missing\.ogg" cannot be read/ });

  const built = existsSync(join(repo, 'dist', 'cli', 'main.js'));
  if (!built) return t.comment('dist/ not built: the CLI check is left out');
  const config = join(dir, 'cam.json');
  writeFileSync(config, JSON.stringify({ audio: { source: 'file', path: wav }, credentials: { source: 'static', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x' } }));
  const r = await new Promise<{ code: number; stderr: string }>((res) => {
    execFile(process.execPath, [join(repo, 'bin', 'kvs-edge.js'), 'run', '--config', config, '--log-level', 'silent'], { env: { PATH: process.env['PATH'] }, timeout: 30_000 }, (err, _out, stderr) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
  t.not(r.code, 0, `kvs-edge run fails (exit ${r.code})`);
  t.match(r.stderr, /cannot open the audio track: .*not a usable Ogg Opus file/, 'and says why, in one line');
  t.notMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
});
