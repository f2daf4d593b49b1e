// `kvs-edge demo`: the test-pattern camera and a viewer page on loopback, no AWS account needed.
import { EXIT_OK, UsageError, type CliCommand } from './command.js';

const help = `kvs-edge demo [--port N] [--host ADDR] [--width W --height H --fps F --bitrate KBPS]

Streams a moving test pattern (H.264, openh264) from the native WebRTC engine and serves a
viewer page on loopback. Open the printed URL in a browser. Ctrl-C stops everything.
`;

function intArg(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n <= 0) throw new UsageError(`${name} needs a positive integer, got "${value ?? ''}"`);
  return n;
}

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'stream a test pattern to a browser viewer on loopback',
  help,
  async run(argv, io) {
    const video: { width?: number; height?: number; fps?: number; bitrateKbps?: number } = {};
    let port = 8080;
    let host = '127.0.0.1';
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      const v = argv[i + 1];
      switch (a) {
        case '--help': case '-h': io.stdout.write(help); return EXIT_OK;
        case '--port': port = v === '0' ? 0 : intArg(a, v); i++; break;
        case '--host': if (!v) throw new UsageError('--host needs an address'); host = v; i++; break;
        case '--width': video.width = intArg(a, v); i++; break;
        case '--height': video.height = intArg(a, v); i++; break;
        case '--fps': video.fps = intArg(a, v); i++; break;
        case '--bitrate': video.bitrateKbps = intArg(a, v); i++; break;
        default: throw new UsageError(`unknown option "${a}"`);
      }
    }
    const { startDemoServer } = await import('../demo/demo-server.js');
    const server = await startDemoServer({ host, port, video, log: (l) => io.stdout.write(`${l}\n`) });
    io.stdout.write(`kvs-edge demo: open ${server.url} in a browser (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    io.stdout.write('kvs-edge demo: stopped\n');
    return EXIT_OK;
  },
};
