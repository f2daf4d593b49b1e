import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvsError, errorMessage } from '../kvs/KvsError.js';

/**
 * A throwaway certificate authority for the local service: a server certificate for its
 * HTTPS/WSS and IoT endpoints, and device certificates for the IoT credentials provider.
 * Uses the openssl command line (Node has no X.509 writer). Everything is PEM in memory.
 */
export interface Pem {
  cert: string;
  key: string;
}

export interface TestPki {
  ca: Pem;
  /** Server certificate for 127.0.0.1, ::1 and localhost. */
  server: Pem;
  /** Issues a client (device) certificate whose CN is `commonName`. */
  issueClient(commonName: string): Pem;
  /** Issues a server certificate for these DNS names (wildcards allowed) and IP addresses. */
  issueServer(dnsNames: string[], ips?: string[]): Pem;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new KvsError('ERR_LOCAL_SERVICE', `openssl ${args[0] ?? ''} failed: ${errorMessage(err)}`, { cause: err });
  }
}

function issue(dir: string, ca: Pem, name: string, subject: string, ext: string): Pem {
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

/** Runs `make` in a fresh temporary folder, removed afterwards. */
function inTempDir<T>(make: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-pki-'));
  try {
    return make(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function issueServer(ca: Pem, dnsNames: string[], ips: string[]): Pem {
  for (const n of dnsNames) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(n)) throw new KvsError('ERR_LOCAL_SERVICE', `"${n}" is not a DNS name`);
  }
  for (const ip of ips) if (!isIP(ip)) throw new KvsError('ERR_LOCAL_SERVICE', `"${ip}" is not an IP address`);
  const san = [...dnsNames.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
  const ext = `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`;
  return inTempDir((d) => issue(d, ca, 'server', `/CN=${dnsNames[0] ?? ips[0] ?? 'localhost'}`, ext));
}

export function createTestPki(): TestPki {
  const ca = inTempDir((dir): Pem => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=kvs-edge local CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    return { cert: readFileSync(join(dir, 'ca.pem'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
  });
  return {
    ca,
    server: issueServer(ca, ['localhost'], ['127.0.0.1', '::1']),
    issueServer: (dnsNames: string[], ips: string[] = []): Pem => issueServer(ca, dnsNames, ips),
    issueClient: (commonName: string): Pem =>
      inTempDir((d) => issue(d, ca, 'client', `/CN=${commonName.replace(/[/=]/g, '_')}`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n')),
  };
}
