#!/usr/bin/python3
"""GStreamer webrtcbin as the sender of the peer benchmark, in its own process.

Run with Debian's interpreter (python3-gi, gir1.2-gst-plugins-bad-1.0):
  /usr/bin/python3 bench/peers/gst_sender.py file PATH   the benchmark's H.264 access units
      (parsed once by h264parse), pushed into an appsrc paced at 30 fps, looping
  /usr/bin/python3 bench/peers/gst_sender.py encode       videotestsrc -> openh264enc at 2 Mbps,
      live (a viewer's PLI reaches the encoder as a force-key-unit event)

Either way the stream is payloaded once (rtph264pay) and split by a tee; each viewer gets its own
queue -> webrtcbin branch. Signaling is bench/peers/signaling.ts's JSON lines on stdin/stdout.
"""

import json
import os
import sys
import threading
import time

# The GI set-up and signaling forms it shares with the webrtcbin viewer of the tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "test", "peers3"))
from gst_webrtc import GLib, Gst, GstWebRTC, emit, ice_candidate, reply_error, session_description  # noqa: E402

WIDTH, HEIGHT, FPS, BITRATE, GOP = 1280, 720, 30, 2000000, 60
# The payload type the benchmark's viewer (the kvs-edge engine) offers for H.264.
PAYLOAD_TYPE = 102


def offer_h264_pt(sdp):
    """The offer's first H.264 payload type with packetization-mode=1."""
    pts = []
    for line in sdp.splitlines():
        if line.startswith("a=rtpmap:") and "H264/90000" in line.upper():
            pts.append(line[len("a=rtpmap:"):].split()[0])
    for pt in pts:
        for line in sdp.splitlines():
            if line.startswith("a=fmtp:%s " % pt) and "packetization-mode=1" in line:
                return int(pt)
    return None


def read_access_units(path):
    """Access units of an Annex-B file, split by GStreamer's own h264parse."""
    pipe = Gst.parse_launch(
        "filesrc name=src ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au "
        "! appsink name=sink sync=false"
    )
    pipe.get_by_name("src").set_property("location", path)
    sink = pipe.get_by_name("sink")
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    aus = []
    while True:
        sample = sink.emit("try-pull-sample", 5 * Gst.SECOND)
        if sample is None:
            err = bus.pop_filtered(Gst.MessageType.ERROR)
            if err is not None:
                pipe.set_state(Gst.State.NULL)
                raise RuntimeError("%s: %s" % (path, err.parse_error()[0].message))
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            aus.append((bytes(info.data), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
            buf.unmap(info)
    pipe.set_state(Gst.State.NULL)
    if not aus:
        raise RuntimeError("%s: no H.264 access units" % path)
    return aus


class Sender:
    def __init__(self, source, path, pt):
        self.pt = pt
        self.peers = {}
        self.pending_candidates = {}
        caps = "video/x-h264,stream-format=byte-stream,alignment=au,width=%d,height=%d,framerate=%d/1" % (WIDTH, HEIGHT, FPS)
        tail = (
            "h264parse config-interval=-1 ! rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=%d mtu=1200 "
            "! application/x-rtp,media=video,encoding-name=H264,payload=%d,clock-rate=90000 ! tee name=t allow-not-linked=true"
            % (pt, pt)
        )
        if source == "file":
            self.aus = read_access_units(path)
            head = "appsrc name=src is-live=true format=time do-timestamp=false caps=%s ! " % caps
        else:
            self.aus = None
            head = (
                "videotestsrc is-live=true pattern=smpte horizontal-speed=2 ! video/x-raw,width=%d,height=%d,framerate=%d/1,format=I420 "
                "! openh264enc bitrate=%d rate-control=bitrate gop-size=%d qp-min=32 ! %s ! "
                % (WIDTH, HEIGHT, FPS, BITRATE, GOP, caps.replace("alignment=au", "alignment=au,profile=constrained-baseline"))
            )
        self.pipe = Gst.parse_launch(head + tail)
        self.tee = self.pipe.get_by_name("t")
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", lambda _b, m: emit({"type": "error", "message": "pipeline: %s" % m.parse_error()[0].message}))
        self.pipe.set_state(Gst.State.PLAYING)
        if self.aus is not None:
            self.src = self.pipe.get_by_name("src")
            self.pipe.get_state(5 * Gst.SECOND)  # PLAYING, so that the pipeline clock runs
            threading.Thread(target=self.pace, daemon=True).start()

    def pace(self):
        """Pushes the access units at FPS on a clock that does not drift, looping."""
        start = time.monotonic()
        n = 0
        duration = Gst.SECOND // FPS
        while True:
            due = start + n / FPS
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            data, key = self.aus[n % len(self.aus)]
            buf = Gst.Buffer.new_wrapped(data)
            clock = self.pipe.get_clock()
            if clock is not None:
                buf.pts = clock.get_time() - self.pipe.get_base_time()
            buf.duration = duration
            if not key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            if self.src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                return
            n += 1

    # --- viewers (all on the GLib main loop) ------------------------------------------
    def offer(self, vid, sdp_text):
        offer = session_description("offer", sdp_text)
        if offer is None:
            emit({"type": "error", "id": vid, "message": "offer does not parse"})
            return
        queue = Gst.ElementFactory.make("queue")
        queue.set_property("leaky", 2)
        queue.set_property("max-size-buffers", 200)
        webrtc = Gst.ElementFactory.make("webrtcbin")
        webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.pipe.add(queue)
        self.pipe.add(webrtc)
        webrtc.connect("on-ice-candidate", lambda _e, mline, c: emit(
            {"type": "candidate", "id": vid, "candidate": c, "sdpMid": None, "sdpMLineIndex": mline}))
        queue.link(webrtc)
        # Pin the branch's transceiver (send only, our H.264 RTP caps) before the offer is
        # applied, so that the answer does not depend on whether the stream's caps have reached
        # webrtcbin's sink pad yet.
        transceiver = queue.get_static_pad("src").get_peer().get_property("transceiver")
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        transceiver.set_property("codec-preferences", Gst.Caps.from_string(
            "application/x-rtp,media=video,encoding-name=H264,payload=%d,clock-rate=90000,"
            "packetization-mode=(string)1" % self.pt))
        webrtc.sync_state_with_parent()
        queue.sync_state_with_parent()
        # Linked last, once the branch is PLAYING: a tee pushing into a queue still in NULL gets
        # FLUSHING back, and that stops the source's streaming thread for every viewer.
        tee_pad = self.tee.request_pad_simple("src_%u")
        tee_pad.link(queue.get_static_pad("sink"))
        self.peers[vid] = (webrtc, queue, tee_pad)
        webrtc.emit("set-remote-description", offer, Gst.Promise.new_with_change_func(self.on_offer_set, vid, None))

    def on_offer_set(self, promise, vid, _x):
        promise.wait()
        peer = self.peers.get(vid)
        if peer is None:
            return
        error = reply_error(promise)
        if error is not None:
            emit({"type": "error", "id": vid, "message": "set-remote-description: %s" % error})
            return
        peer[0].emit("create-answer", None, Gst.Promise.new_with_change_func(self.on_answer, vid, None))

    def on_answer(self, promise, vid, _x):
        promise.wait()
        peer = self.peers.get(vid)
        if peer is None:
            return
        reply = promise.get_reply()
        answer = reply.get_value("answer") if reply is not None and reply.has_field("answer") else None
        if answer is None:
            emit({"type": "error", "id": vid, "message": "create-answer failed: %s" % (reply.get_value("error") if reply is not None and reply.has_field("error") else "no answer")})
            return
        peer[0].emit("set-local-description", answer, Gst.Promise.new())
        emit({"type": "answer", "id": vid, "sdp": answer.sdp.as_text()})
        for mline, c in self.pending_candidates.pop(vid, []):
            peer[0].emit("add-ice-candidate", mline, c)

    def candidate(self, vid, msg):
        candidate = ice_candidate(msg)
        if candidate is None:
            return
        peer = self.peers.get(vid)
        if peer is None:
            self.pending_candidates.setdefault(vid, []).append(candidate)
        else:
            peer[0].emit("add-ice-candidate", *candidate)

    def close(self, vid):
        peer = self.peers.pop(vid, None)
        if peer is None:
            return
        webrtc, queue, tee_pad = peer

        def remove():
            for el in (webrtc, queue):
                el.set_state(Gst.State.NULL)
                self.pipe.remove(el)
            return False

        def unlink(pad, _info):
            # In the tee's idle moment, so that it never pushes into a branch being shut down
            # (FLUSHING back would stop the source for every viewer).
            pad.unlink(queue.get_static_pad("sink"))
            self.tee.release_request_pad(pad)
            GLib.idle_add(remove)
            return Gst.PadProbeReturn.REMOVE

        tee_pad.add_probe(Gst.PadProbeType.IDLE, unlink)

    def quit(self):
        self.pipe.set_state(Gst.State.NULL)


def main():
    Gst.init(None)
    if len(sys.argv) < 2 or sys.argv[1] not in ("file", "encode") or (sys.argv[1] == "file" and len(sys.argv) < 3):
        sys.stderr.write("usage: gst_sender.py file PATH | encode\n")
        sys.exit(2)
    source = sys.argv[1]
    path = sys.argv[2] if source == "file" else None
    sender = Sender(source, path, PAYLOAD_TYPE)

    def handle(line):
        try:
            msg = json.loads(line)
        except ValueError:
            emit({"type": "error", "message": "not JSON"})
            return False
        kind, vid = msg.get("type"), msg.get("id", "")
        if kind == "offer":
            # One payloader serves every viewer, so each offer must use its payload type.
            if offer_h264_pt(msg.get("sdp", "")) != sender.pt:
                emit({"type": "error", "id": vid, "message": "offer has no H.264 (packetization-mode=1) with payload type %d" % sender.pt})
                return False
            sender.offer(vid, msg.get("sdp", ""))
        elif kind == "candidate":
            sender.candidate(vid, msg)
        elif kind == "close":
            sender.close(vid)
        elif kind == "quit":
            sender.quit()
            main_loop.quit()
        return False

    def stdin_reader():
        for line in sys.stdin:
            GLib.idle_add(handle, line)
        GLib.idle_add(handle, '{"type": "quit"}')

    main_loop = GLib.MainLoop()
    threading.Thread(target=stdin_reader, daemon=True).start()
    emit({"type": "ready"})
    main_loop.run()


if __name__ == "__main__":
    main()
