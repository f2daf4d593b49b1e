// JSON lines by default, pretty in a TTY, levels changeable at run time across children.
import t from 'tap';
import { Logger } from '../../ts/log/logger.js';

function sink(isTTY = false): { lines: string[]; write(s: string): void; isTTY: boolean } {
  const lines: string[] = [];
  return { lines, isTTY, write: (s: string) => void lines.push(s) };
}
const now = () => new Date('2026-01-02T03:04:05.678Z');

t.test('JSON lines with fields, errors serialized with their code', async (t) => {
  const s = sink();
  const log = new Logger({ sink: s, now, fields: { deviceId: 'cam-1' } });
  log.info('started', { channel: 'ch' });
  log.error('failed', { error: Object.assign(new Error('boom'), { code: 'ERR_X' }) });
  t.equal(s.lines.length, 2);
  t.same(JSON.parse(s.lines[0] ?? ''), { time: '2026-01-02T03:04:05.678Z', level: 'info', msg: 'started', deviceId: 'cam-1', channel: 'ch' });
  t.match(JSON.parse(s.lines[1] ?? ''), { level: 'error', error: { name: 'Error', message: 'boom', code: 'ERR_X' } });
  t.ok(s.lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')), 'one line each');
});

t.test('pretty when the sink is a TTY', async (t) => {
  const s = sink(true);
  new Logger({ sink: s, now }).warn('slow viewer', { clientId: 'v1' });
  t.equal(s.lines[0], '03:04:05.678 WARN  slow viewer clientId=v1\n');
});

t.test('level changes at run time reach every child', async (t) => {
  const s = sink();
  const root = new Logger({ sink: s, now, level: 'info' });
  const child = root.child({ module: 'remote' });
  child.debug('hidden');
  t.equal(s.lines.length, 0, 'debug filtered at info');
  root.setLevel('debug');
  child.debug('shown');
  t.match(JSON.parse(s.lines[0] ?? ''), { level: 'debug', module: 'remote', msg: 'shown' });
  child.setLevel('silent');
  root.fatal('nothing');
  t.equal(s.lines.length, 1, 'silent drops everything');
  t.throws(() => root.setLevel('loud' as 'info'), { code: 'ERR_LOG_LEVEL' });
});

t.test('circular and bigint fields do not crash', async (t) => {
  const s = sink();
  const a: Record<string, unknown> = { n: 1n };
  a['self'] = a;
  new Logger({ sink: s, now }).info('x', { a });
  t.match(JSON.parse(s.lines[0] ?? ''), { a: { n: '1', self: '[circular]' } });
});
