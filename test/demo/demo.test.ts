// `kvs-edge demo` as a newcomer sees it: open the page in a browser, the test pattern plays.
import { chromium } from 'playwright-core';
import t from 'tap';
import { startDemoServer } from '../../ts/demo/demo-server.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'];

t.test('the demo page plays the moving test pattern in Chromium', async (t) => {
  const server = await startDemoServer({ video: { width: 640, height: 360, fps: 30, bitrateKbps: 800 } });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  t.teardown(async () => {
    await browser.close();
    await server.close();
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  await page.goto(server.url);
  await page.waitForFunction(() => Number(document.getElementById('stats')?.dataset.framesDecoded ?? 0) >= 60, undefined, { timeout: 15000 });
  const text = await page.textContent('#stats');
  t.match(text ?? '', /resolution\s+640x360/, 'the viewer shows the track resolution');
  const video = page.locator('video');
  const a = await video.screenshot();
  await page.waitForTimeout(1000);
  const b = await video.screenshot();
  t.not(a.toString('base64'), b.toString('base64'), 'two screenshots a second apart differ: the picture moves');
  t.equal(server.viewers, 1, 'one viewer connected');
});

t.test('bad requests get a clear error and the server goes on', async (t) => {
  const server = await startDemoServer({ video: { width: 320, height: 240 } });
  t.teardown(() => server.close());
  const post = (body: string) => fetch(new URL('/offer', server.url), { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  let r = await post('not json');
  t.equal(r.status, 400);
  t.match(((await r.json()) as { error: string }).error, /JSON/);
  r = await post(JSON.stringify({ sdp: 42 }));
  t.equal(r.status, 400);
  r = await post(JSON.stringify({ sdp: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n' }));
  t.equal(r.status, 400);
  const body = (await r.json()) as { error: string; code: string };
  t.equal(body.code, 'ERR_SDP_UNSUPPORTED');
  r = await fetch(new URL('/nope', server.url));
  t.equal(r.status, 404);
  r = await fetch(server.url);
  t.equal(r.status, 200, 'still serving the page');
  t.equal(server.viewers, 0, 'no half-open viewers left behind');
});
