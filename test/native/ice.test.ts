// ICE as a viewer sees it: relay-only through a real coturn (UDP and TCP), IPv6, ICE restart
// without losing the picture, and end-of-candidates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { CoturnServer } from '../../ts/local/CoturnServer.js';
import { createTestPki } from '../../ts/local/pki.js';
import { ChromiumViewer, iceUfrag, launch } from './chromium-viewer.js';

const browser = await launch();
const track = new VideoTrack({ width: 320, height: 240, fps: 30, bitrateKbps: 400 });
t.teardown(async () => {
  track.close();
  await browser.close();
});

async function stream(t: Tap.Test, pc: PeerConnection, viewerConfig: RTCConfiguration = {}, on = browser) {
  pc.addTrack(track);
  const viewer = await ChromiumViewer.open(on, pc, viewerConfig);
  t.teardown(async () => {
    pc.close();
    await viewer.page.close();
  });
  const [, answer] = await viewer.negotiate();
  const seen = await viewer.waitForFrames(30, 15000);
  return { viewer, answer, seen };
}

for (const transport of ['udp', 'tcp', 'tls'] as const) {
  t.test(`relay only through coturn over ${transport.toUpperCase()}`, { skip: CoturnServer.available() ? false : 'coturn (turnserver) is not installed' }, async (t) => {
    const pki = transport === 'tls' ? createTestPki() : undefined;
    const turn = new CoturnServer({ host: '127.0.0.1', verbose: true, ...(pki ? { tls: pki.issueServer(['localhost'], ['127.0.0.1']) } : {}) });
    if (pki) {
      // The engine trusts the extra CAs the Node side of the process trusts (NODE_EXTRA_CA_CERTS).
      const caFile = join(mkdtempSync(join(tmpdir(), 'kvs-turn-ca-')), 'ca.pem');
      writeFileSync(caFile, pki.ca.cert);
      const before = process.env['NODE_EXTRA_CA_CERTS'];
      process.env['NODE_EXTRA_CA_CERTS'] = caFile;
      t.teardown(() => {
        if (before === undefined) delete process.env['NODE_EXTRA_CA_CERTS'];
        else process.env['NODE_EXTRA_CA_CERTS'] = before;
        rmSync(dirname(caFile), { recursive: true, force: true });
      });
    }
    const turnLog: string[] = [];
    turn.on('log', (l) => turnLog.push(l));
    await turn.start();
    t.teardown(() => turn.close());
    const cred = turn.credentials('engine', 600);
    const urls = [transport === 'tls' ? `turns:127.0.0.1:${turn.tlsPort}?transport=tcp` : `turn:127.0.0.1:${turn.port}?transport=${transport}`];
    const pc = new PeerConnection({ iceServers: [{ urls, username: cred.username, credential: cred.password }], iceTransportPolicy: 'relay', localAddresses: ['127.0.0.1'] });
    // The viewer relays too (its host addresses are not loopback, the relay's are).
    const viewerCred = turn.credentials('viewer', 600);
    // Chromium checks the TURN server's certificate; this one is from a throwaway CA.
    const on = transport === 'tls' ? await launch(['--ignore-certificate-errors']) : browser;
    if (on !== browser) t.teardown(() => on.close());
    const { viewer, seen } = await stream(t, pc, {
      iceServers: [{ urls, username: viewerCred.username, credential: viewerCred.password }],
      iceTransportPolicy: 'relay',
    }, on);
    t.ok(seen.frames >= 30, `frames decoded through the relay (${seen.frames})`);
    t.ok(viewer.engineCandidates.length > 0, 'relay candidates were trickled');
    t.ok(viewer.engineCandidates.every((c) => c.candidate === '' || / typ relay/.test(c.candidate)), 'the engine offered relay candidates only');
    // The related address is the local end of the engine's connection to coturn (UDP: the
    // host socket; TCP: the TCP connection), never libnice's placeholder port 9.
    const related = viewer.engineCandidates.filter((c) => c.candidate !== '').map((c) => / raddr (\S+) rport (\d+)/.exec(c.candidate));
    t.ok(related.length > 0 && related.every((m) => m?.[1] === '127.0.0.1' && Number(m[2]) >= 1024),
      `relay candidates carry a real related address (${viewer.engineCandidates.map((c) => c.candidate).join(' | ')})`);
    if (transport !== 'udp') {
      // ... and that port is the engine's TCP connection to coturn, as the kernel sees it
      const conns = execFileSync('ss', ['-Htn', 'state', 'established', 'dst', `127.0.0.1:${transport === 'tls' ? turn.tlsPort : turn.port}`], { encoding: 'utf8' });
      const localPorts = [...conns.matchAll(/127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+/g)].map((m) => m[1]);
      t.ok(localPorts.includes(related[0]?.[2] ?? '-'), `rport ${related[0]?.[2] ?? '-'} is a TCP connection to coturn (${localPorts.join(', ')})`);
    }
    if (transport === 'tls') {
      // coturn names each session's TLS version and cipher (it would also take plain TCP on
      // its TLS port: it detects TLS per connection).
      for (const who of ['engine', 'viewer'])
        t.ok(turnLog.some((l) => new RegExp(`session \\S+: new, .*username=<\\d+:${who}>.*method=TLSv1\\.[23]`).test(l)),
          `the ${who}'s TURN session is TLS (${turnLog.filter((l) => /new, realm/.test(l)).join(' | ')})`);
    }
    const stats = await pc.getStats();
    t.equal(stats.selectedPair?.localType, 'relay', 'the selected local candidate is the relay');
    t.ok(stats.packetsSent > 0 && stats.sendBatches === 0 && stats.packetsSentBatched === 0,
      `libnice sends each packet through the relay (${stats.packetsSent} sent, ${stats.sendBatches} batched calls)`);
  });
}

t.test('TURN over TLS to a server whose certificate is not trusted: no relay candidate', { skip: CoturnServer.available() ? false : 'coturn (turnserver) is not installed' }, async (t) => {
  const pki = createTestPki();
  const turn = new CoturnServer({ host: '127.0.0.1', verbose: true, tls: pki.issueServer(['localhost'], ['127.0.0.1']) });
  const turnLog: string[] = [];
  turn.on('log', (l) => turnLog.push(l));
  await turn.start();
  t.teardown(() => turn.close());
  const before = process.env['NODE_EXTRA_CA_CERTS'];
  delete process.env['NODE_EXTRA_CA_CERTS'];
  t.teardown(() => {
    if (before !== undefined) process.env['NODE_EXTRA_CA_CERTS'] = before;
  });
  const cred = turn.credentials('engine', 600);
  const pc = new PeerConnection({
    iceServers: [{ urls: [`turns:127.0.0.1:${turn.tlsPort}?transport=tcp`], username: cred.username, credential: cred.password }],
    iceTransportPolicy: 'relay',
    localAddresses: ['127.0.0.1'],
  });
  pc.addTrack(track);
  const viewer = await ChromiumViewer.open(browser, pc);
  t.teardown(async () => {
    pc.close();
    await viewer.page.close();
  });
  await viewer.negotiate();
  // The same setup with a trusted CA has its relay candidate within a second (the test above).
  await new Promise((r) => setTimeout(r, 3000));
  t.notOk(viewer.engineCandidates.some((c) => / typ relay/.test(c.candidate)),
    `no relay candidate through a TURN server whose certificate the engine does not trust (${viewer.engineCandidates.map((c) => c.candidate).join(' | ')})`);
  t.notOk(turnLog.some((l) => /new, realm=.*username=<\d+:engine>/.test(l)), 'and no TURN session was made');
});

t.test('IPv6 host candidates carry the media', async (t) => {
  const v6 = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv6' && !a.internal && !a.address.startsWith('fe80'));
  if (!v6) {
    t.skip('no global or unique-local IPv6 address on this machine');
    return;
  }
  const pc = new PeerConnection({ localAddresses: [v6.address] });
  const { seen } = await stream(t, pc);
  t.ok(seen.frames >= 30, `frames decoded over IPv6 (${seen.frames})`);
  const stats = await pc.getStats();
  t.ok(stats.selectedPair?.local.includes(':') && stats.selectedPair.local.startsWith(v6.address), `selected pair is IPv6: ${stats.selectedPair?.local}`);
  t.ok(stats.packetsSentBatched > 0, `batched sends over IPv6 (${stats.packetsSentBatched} packets in ${stats.sendBatches} calls)`);
});

t.test('ICE restart: new credentials, the picture keeps coming', async (t) => {
  const pc = new PeerConnection();
  const { viewer, answer, seen } = await stream(t, pc);
  t.ok(seen.frames >= 30, 'frames before the restart');
  const before = await pc.getStats();
  t.ok(before.packetsSentBatched > 0, `batched sends before the restart (${before.packetsSentBatched} packets)`);
  const [offer2, answer2] = await viewer.negotiate(true);
  t.not(iceUfrag(offer2), undefined);
  t.not(iceUfrag(answer2), iceUfrag(answer), 'the answer to the restart has a new ICE ufrag');
  const after = await viewer.waitForFrames(seen.frames + 60, 15000);
  t.ok(after.frames >= seen.frames + 60, `frames kept decoding after the restart (${seen.frames} -> ${after.frames})`);
  const restarted = await pc.getStats();
  t.ok(restarted.packetsSentBatched > before.packetsSentBatched, `batched sends after the restart (${before.packetsSentBatched} -> ${restarted.packetsSentBatched} packets, pair ${restarted.selectedPair?.local} -> ${restarted.selectedPair?.remote})`);
  t.equal(after.state, 'connected');
});

t.test('gathering ends with gathering-done, and waitForGathering puts every candidate in the answer', async (t) => {
  const pc = new PeerConnection({ waitForGathering: true, localAddresses: ['127.0.0.1'] });
  let done = false;
  pc.on('gathering-done', () => { done = true; });
  const { answer, seen } = await stream(t, pc);
  t.match(answer, /a=candidate:.* 127\.0\.0\.1 /, 'host candidate in the answer');
  t.match(answer, /a=end-of-candidates/, 'end-of-candidates in the answer');
  t.notOk(done, 'no separate gathering-done event: it was in the answer');
  t.ok(seen.frames >= 30, `frames decoded (${seen.frames})`);
});

t.test('host TCP candidates: none by default (the viewer keeps aggressive nomination), offered with iceTcpCandidates', async (t) => {
  for (const tcp of [false, true]) {
    const pc = new PeerConnection({ waitForGathering: true, localAddresses: ['127.0.0.1'], ...(tcp ? { iceTcpCandidates: true } : {}) });
    const { answer, seen } = await stream(t, pc);
    const lines = answer.match(/^a=candidate:.*$/gm) ?? [];
    t.ok(lines.some((l) => / UDP \d+ 127\.0\.0\.1 \d+ typ host/i.test(l)), `a UDP host candidate (iceTcpCandidates ${tcp})`);
    const tcpLines = lines.filter((l) => / TCP /i.test(l));
    if (tcp) t.ok(tcpLines.some((l) => /tcptype passive/.test(l)), `a passive TCP host candidate: ${tcpLines.join(' | ')}`);
    else t.same(tcpLines, [], 'no TCP candidate');
    t.ok(seen.frames >= 30, `Chromium decodes frames (${seen.frames})`);
  }
});

for (const role of ['client', 'server'] as const) {
  t.test(`DTLS as ${role}: handshake, fingerprint check and SRTP keys work with Chromium`, async (t) => {
    const pc = new PeerConnection({ dtlsRole: role });
    const { answer, seen } = await stream(t, pc);
    t.match(answer, role === 'client' ? /a=setup:active/ : /a=setup:passive/);
    t.ok(seen.frames >= 30, `frames decoded (${seen.frames})`);
    const stats = await pc.getStats();
    t.equal(stats.dtlsRole, role);
    t.match(stats.srtpProfile ?? '', /^SRTP_(AES128_CM_SHA1_80|AEAD_AES_128_GCM)$/, `negotiated ${stats.srtpProfile}`);
  });
}
