// kvs-edge probe: board, encoders, cameras, and what `auto` picks, as JSON.
import { probe, v4l2EncoderChecker, fsEncoderChecker, type V4l2Node } from '../config/probe.js';
import { parse, str } from './args.js';
import { EXIT_OK, UsageError, type CliCommand } from './command.js';

export const probeCommand: CliCommand = {
  name: 'probe',
  help: `Usage: kvs-edge probe [--board ID] [--root DIR] [--boards-dir DIR]

Reads the device-tree model (/proc/device-tree/model), the Jetson release file
(/etc/nv_tegra_release) and the architecture, picks the board profile, asks
the native engine about each encoder device the profile names (V4L2 M2M with
H.264 output?), lists every /dev/video* with its capabilities, and prints in
JSON what it found, what 'video.encoder: auto' would open (wouldOpen) and
which encoder it will use.

Options:
  --board ID        skip detection and use this profile (e.g. rpi-4)
  --root DIR        read /proc, /etc, /dev, /sys under DIR (for testing)
  --arch ARCH       pretend 'uname -m' is ARCH (for testing)
  --boards-dir DIR  board profiles directory (default: the package's boards/)
  -h, --help        this help

Exit codes: 0 probed, 1 profiles unreadable, 2 usage error.
`,
  async run(argv, io) {
    const p = parse(argv, {
      board: { type: 'string' },
      root: { type: 'string' },
      arch: { type: 'string' },
      'boards-dir': { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(this.help);
      return EXIT_OK;
    }
    if (p.positionals.length) throw new UsageError(`probe takes no arguments, got "${p.positionals[0]}"`);
    const opts: Parameters<typeof probe>[0] = {};
    const board = str(p, 'board');
    const root = str(p, 'root');
    const arch = str(p, 'arch');
    const dir = str(p, 'boards-dir');
    if (board) opts.board = board;
    if (root) opts.root = root;
    if (arch) opts.arch = arch;
    if (dir) opts.boardsDir = dir;
    // The native engine queries the devices; without the addon only existence/open is checked.
    try {
      const native = await import('../native/index.js');
      const query = (paths: string[]): V4l2Node[] => native.probeV4l2(paths);
      query([]);
      opts.checker = v4l2EncoderChecker(query);
      if (!root) opts.listDevices = () => native.probeV4l2();
    } catch {
      opts.checker = fsEncoderChecker();
    }
    const report = await probe(opts);
    io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return EXIT_OK;
  },
};
