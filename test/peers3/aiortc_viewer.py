#!/usr/bin/python3
"""aiortc (Debian python3-aiortc) as a KVS viewer, driven over stdin/stdout JSON lines.

Run with Debian's interpreter: /usr/bin/python3 test/peers3/aiortc_viewer.py [--no-audio]

Out (stdout, one JSON object per line):
  {"type": "offer", "sdp": ...}                 once, after ICE gathering (aiortc does not trickle)
  {"type": "state", "state": ...}               connectionState changes
  {"type": "ice", "state": ...}                 iceConnectionState changes
  {"type": "track", "kind": ...}                a remote track appeared
  {"type": "frame", "n", "width", "height", "keyframe", "ms"}   each decoded video frame
  {"type": "error", "message": ...}
In (stdin):
  {"type": "answer", "sdp": ...}
  {"type": "candidate", "candidate": "candidate:...", "sdpMid": ..., "sdpMLineIndex": ...}
  {"type": "close"}  (or EOF)

Decoded frames come from aiortc's own H.264 decoder (PyAV / ffmpeg): RemoteStreamTrack.recv()
returns av.VideoFrame objects, so a frame counted here was decoded, with its real size.
"""

import asyncio
import json
import sys
import time

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp


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
    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return


async def main():
    audio = "--no-audio" not in sys.argv
    t0 = time.monotonic()
    pc = RTCPeerConnection()
    tasks = []

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
    if audio:
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
