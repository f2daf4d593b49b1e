// Two network namespaces joined by a veth pair, made for one test and removed in its teardown
// (also when the test fails). Needs root (CAP_NET_ADMIN).
import { execFileSync } from 'node:child_process';

export interface NetnsPair {
  engineNs: string;
  viewerNs: string;
  engineIf: string;
  viewerIf: string;
  engineAddr: string;
  viewerAddr: string;
  /** Runs `nft -f -` with `ruleset` inside the engine's namespace. */
  nftEngine(ruleset: string): void;
  /** `nft <args>` inside the engine's namespace; its stdout. */
  nftEngineOutput(args: string[]): string;
  remove(): void;
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Why the namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, veth, nftables)';
  try {
    run('ip', ['-V']);
    run('nft', ['--version']);
  } catch (e) {
    return `ip or nft missing: ${String(e)}`;
  }
  return null;
}

/** Removes namespaces an earlier run left behind when it was killed (its process is gone). */
function removeStale(prefix: string): void {
  let names: string[] = [];
  try {
    names = run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '');
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${prefix}[ev]-([0-9a-z]+)[0-9a-z]{3}$`).exec(name);
    if (!m) continue;
    const pid = parseInt(m[1]!, 36);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    try {
      run('ip', ['netns', 'del', name]);
    } catch {
      // raced with another cleanup
    }
  }
}

export function createNetnsPair(prefix = 'kvs3'): NetnsPair {
  removeStale(prefix);
  const tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
  const engineNs = `${prefix}e-${tag}`;
  const viewerNs = `${prefix}v-${tag}`;
  // Interface names are at most 15 characters.
  const engineIf = `k3e${tag}`.slice(0, 15);
  const viewerIf = `k3v${tag}`.slice(0, 15);
  const engineAddr = '10.233.0.1';
  const viewerAddr = '10.233.0.2';
  const pair: NetnsPair = {
    engineNs,
    viewerNs,
    engineIf,
    viewerIf,
    engineAddr,
    viewerAddr,
    nftEngine(ruleset) {
      run('ip', ['netns', 'exec', engineNs, 'nft', '-f', '-'], ruleset);
    },
    nftEngineOutput(args) {
      return run('ip', ['netns', 'exec', engineNs, 'nft', ...args]);
    },
    remove() {
      for (const ns of [engineNs, viewerNs]) {
        try {
          run('ip', ['netns', 'del', ns]);
        } catch {
          // already gone
        }
      }
    },
  };
  try {
    run('ip', ['netns', 'add', engineNs]);
    run('ip', ['netns', 'add', viewerNs]);
    run('ip', ['link', 'add', engineIf, 'netns', engineNs, 'type', 'veth', 'peer', 'name', viewerIf, 'netns', viewerNs]);
    for (const [ns, ifname, addr] of [
      [engineNs, engineIf, engineAddr],
      [viewerNs, viewerIf, viewerAddr],
    ] as const) {
      run('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname]);
      run('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // The veths' IPv6 link-local addresses stay tentative for about a second (duplicate address
    // detection). A peer that gathers then binds to an address that vanishes or is not usable yet:
    // werift's ICE then fails on the first connection in a new pair. Wait, bounded, until both settle.
    const deadline = Date.now() + 5_000;
    for (const [ns, ifname] of [
      [engineNs, engineIf],
      [viewerNs, viewerIf],
    ] as const) {
      while (/tentative/.test(run('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', ifname])) && Date.now() < deadline) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  } catch (e) {
    pair.remove();
    throw e;
  }
  return pair;
}
