#!/usr/bin/python3
"""aiortc (Debian python3-aiortc) as a KVS viewer, driven over stdin/stdout JSON lines.

Run with Debian's interpreter:
  /usr/bin/python3 test/peers3/aiortc_viewer.py [--no-audio] [--send-tone=HZ] [--datachannel]

  --no-audio       offer video only
  --send-tone=HZ   send audio too (sendrecv): a sine of HZ Hz from our own AudioStreamTrack,
                   which aiortc encodes to Opus
  --datachannel    open a data channel "kvsDataChannel" (the engine is expected to echo on it)
                   and echo every message on channels the engine opens

Out (stdout, one JSON object per line):
  {"type": "offer", "sdp": ...}                 once, after ICE gathering (aiortc does not trickle)
  {"type": "state", "state": ...}               connectionState changes
  {"type": "ice", "state": ...}                 iceConnectionState changes
  {"type": "track", "kind": ...}                a remote track appeared
  {"type": "frame", "n", "width", "height", "keyframe", "ms"}   each decoded video frame
  {"type": "audio", "frames", "samples", "rate", "rms", "freq"}  every 50 decoded audio frames
                                                (level and dominant frequency of the last second)
  {"type": "dc-open", "label", "origin": "viewer"|"engine"}
  {"type": "dc-message", "label", "text"} or {..., "b64"}   a message received (binary as base64)
  {"type": "error", "message": ...}
In (stdin):
  {"type": "answer", "sdp": ...}
  {"type": "candidate", "candidate": "candidate:...", "sdpMid": ..., "sdpMLineIndex": ...}
  {"type": "dc-send", "label", "text"} or {..., "b64"}   send on our channel (binary from base64)
  {"type": "close"}  (or EOF)

Decoded frames come from aiortc's own H.264 decoder (PyAV / ffmpeg): RemoteStreamTrack.recv()
returns av.VideoFrame objects, so a frame counted here was decoded, with its real size.
"""

import asyncio
import base64
import fractions
import json
import sys
import time

from av import AudioFrame
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from aiortc.sdp import candidate_from_sdp

from audio_meter import AudioMeter, tone


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def consume_video(track, t0):
    n = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        n += 1
        emit({
            "type": "frame",
            "n": n,
            "width": frame.width,
            "height": frame.height,
            "keyframe": bool(getattr(frame, "key_frame", False)),
            "ms": round((time.monotonic() - t0) * 1000),
        })


async def consume_audio(track):
    """aiortc decodes Opus (48 kHz) or G.711 (8 kHz) itself; frames are s16, packed, interleaved."""
    meter = None
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if meter is None:
            meter = AudioMeter(rate=frame.sample_rate)
        samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels)).mean(axis=1)
        report = meter.add(samples)
        if report:
            emit(report)


class ToneTrack(AudioStreamTrack):
    """A sine of `frequency` Hz in 20 ms frames at 48 kHz, paced like aiortc's own tracks."""

    def __init__(self, frequency):
        super().__init__()
        self.frequency = frequency
        self.rate = 48000
        self.sent = 0
        self.start = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.time()
        else:
            await asyncio.sleep(self.start + self.sent / self.rate - time.time())
        n = self.rate // 50
        frame = AudioFrame.from_ndarray(tone(self.frequency, self.sent, n).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += n
        return frame


def dc_report(label, message):
    if isinstance(message, str):
        return {"type": "dc-message", "label": label, "text": message}
    return {"type": "dc-message", "label": label, "b64": base64.b64encode(message).decode()}


async def main():
    audio = "--no-audio" not in sys.argv
    send_tone = None
    for arg in sys.argv[1:]:
        if arg.startswith("--send-tone="):
            send_tone = float(arg.split("=", 1)[1])
    t0 = time.monotonic()
    pc = RTCPeerConnection()
    tasks = []
    channels = {}  # label -> our RTCDataChannel

    if "--datachannel" in sys.argv:
        ours = pc.createDataChannel("kvsDataChannel")
        channels[ours.label] = ours

        @ours.on("open")
        def on_open():
            emit({"type": "dc-open", "label": ours.label, "origin": "viewer"})

        @ours.on("message")
        def on_message(message):
            emit(dc_report(ours.label, message))

    @pc.on("datachannel")
    def on_datachannel(channel):
        # Opened by the engine: everything received is echoed back.
        emit({"type": "dc-open", "label": channel.label, "origin": "engine"})

        @channel.on("message")
        def on_message(message):
            emit(dc_report(channel.label, message))
            channel.send(message)

    @pc.on("connectionstatechange")
    def on_state():
        emit({"type": "state", "state": pc.connectionState})

    @pc.on("iceconnectionstatechange")
    def on_ice():
        emit({"type": "ice", "state": pc.iceConnectionState})

    @pc.on("track")
    def on_track(track):
        emit({"type": "track", "kind": track.kind})
        if track.kind == "video":
            tasks.append(asyncio.ensure_future(consume_video(track, t0)))
        else:
            tasks.append(asyncio.ensure_future(consume_audio(track)))

    pc.addTransceiver("video", direction="recvonly")
    if send_tone is not None:
        pc.addTransceiver(ToneTrack(send_tone), direction="sendrecv")
    elif audio:
        pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    emit({"type": "offer", "sdp": pc.localDescription.sdp})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            msg = json.loads(line)
        except ValueError:
            emit({"type": "error", "message": "bad json line"})
            continue
        kind = msg.get("type")
        try:
            if kind == "answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
            elif kind == "candidate":
                text = msg.get("candidate") or ""
                if text == "":
                    continue
                if text.startswith("a="):
                    text = text[2:]
                if text.startswith("candidate:"):
                    text = text[len("candidate:"):]
                cand = candidate_from_sdp(text)
                cand.sdpMid = msg.get("sdpMid")
                cand.sdpMLineIndex = msg.get("sdpMLineIndex")
                if cand.sdpMid is None and cand.sdpMLineIndex is None:
                    cand.sdpMLineIndex = 0
                await pc.addIceCandidate(cand)
            elif kind == "dc-send":
                channel = channels[msg.get("label", "kvsDataChannel")]
                channel.send(msg["text"] if "text" in msg else base64.b64decode(msg["b64"]))
            elif kind == "close":
                break
        except Exception as exc:  # report, keep running: the test decides
            emit({"type": "error", "message": "%s: %s" % (kind, exc)})

    for task in tasks:
        task.cancel()
    await pc.close()
    emit({"type": "closed"})


if __name__ == "__main__":
    asyncio.run(main())
