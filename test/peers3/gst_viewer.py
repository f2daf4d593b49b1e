#!/usr/bin/python3
"""GStreamer webrtcbin as a KVS viewer, driven over stdin/stdout JSON lines.

Run with Debian's interpreter (python3-gi, gir1.2-gst-plugins-bad-1.0):
  /usr/bin/python3 test/peers3/gst_viewer.py [--audio] [--send-tone=HZ] [--datachannel]
                                             [--bundle-policy=max-bundle|balanced|max-compat]

  --audio          a recvonly Opus transceiver; what arrives is decoded (rtpopusdepay ! opusdec)
  --send-tone=HZ   a sendrecv Opus transceiver instead: audiotestsrc (sine, HZ Hz) ! opusenc !
                   rtpopuspay goes to the engine, and the engine's audio is decoded as above
  --datachannel    open a data channel "kvsDataChannel" and echo every message on channels the
                   engine opens

With max-bundle (the default) every section after the first is offered with port 0 and
a=bundle-only (RFC 8843 6); with balanced each section has its own port in one BUNDLE group.
GStreamer 1.22 puts no BUNDLE group in a balanced offer, and the engine accepts only the first
section of an offer without BUNDLE (docs/engine.md): use max-bundle for audio and data channels.

It offers one recvonly H.264 video transceiver (and, with --audio, a recvonly Opus one), and
decodes what arrives: webrtcbin -> rtph264depay -> h264parse -> openh264dec (or avdec_h264)
-> fakesink. Every buffer reaching the sink is a decoded picture.

Out: {"type": "offer"}, {"type": "candidate", "candidate", "sdpMLineIndex"},
     {"type": "state", "state"}  (webrtcbin's connection-state),
     {"type": "ice", "state"}, {"type": "decoder", "name"},
     {"type": "frame", "n", "width", "height", "keyframe"}  per decoded picture; keyframe is
         whether the access unit that went into the decoder for it was not a delta unit,
     {"type": "au", "n", "keyframes"} every 30 access units into the decoder,
     {"type": "audio", "frames", "samples", "rate", "rms", "freq"} every 50 decoded audio
         buffers (level and dominant frequency of the last second),
     {"type": "dc-open", "label", "origin": "viewer"|"engine"},
     {"type": "dc-message", "label", "text"} or {..., "b64"} per message received,
     {"type": "error", "message"}
In:  {"type": "answer", "sdp"}, {"type": "candidate", "candidate", "sdpMLineIndex"},
     {"type": "dc-send", "label", "text"} or {..., "b64"}, {"type": "close"} (or EOF)
"""

import base64
import json
import sys
import threading

import numpy

from audio_meter import AudioMeter
from gst_webrtc import GLib, Gst, GstWebRTC, emit, enum_name, ice_candidate, reply_error, session_description

OPUS_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2"


class Viewer:
    def __init__(self, audio, bundle_policy, send_tone=None, datachannel=False):
        self.loop = GLib.MainLoop()
        self.pipe = Gst.Pipeline.new("viewer")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        policies = {
            "max-bundle": GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE,
            "max-compat": GstWebRTC.WebRTCBundlePolicy.MAX_COMPAT,
            "balanced": GstWebRTC.WebRTCBundlePolicy.BALANCED,
        }
        self.webrtc.set_property("bundle-policy", policies[bundle_policy])
        self.pipe.add(self.webrtc)
        self.frames = 0
        self.aus = 0
        self.keyframes_in = 0
        # Flags of the access units handed to the decoder, oldest first (pts -> keyframe).
        self.au_keyframe = {}
        self.first_au_keyframe = None
        self.lock = threading.Lock()
        self.offer_sent = False
        self.meter = AudioMeter()
        self.want_datachannel = datachannel
        self.channels = {}  # label -> our GstWebRTCDataChannel
        self.remote_channels = []  # kept alive: channels the engine opened

        video_caps = Gst.Caps.from_string(
            "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
            "packetization-mode=(string)1,profile-level-id=(string)42e01f,"
            "level-asymmetry-allowed=(string)1,"
            "rtcp-fb-nack=(boolean)true,rtcp-fb-nack-pli=(boolean)true"
        )
        self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, video_caps)
        if send_tone is not None:
            self.add_tone_sender(send_tone)
        elif audio:
            audio_caps = Gst.Caps.from_string(OPUS_CAPS)
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, audio_caps)

        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        self.webrtc.connect("pad-added", self.on_pad_added)
        self.webrtc.connect("on-data-channel", self.on_data_channel)
        self.webrtc.connect("notify::connection-state", self.on_conn_state)
        self.webrtc.connect("notify::ice-connection-state", self.on_ice_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_bus_error)
        bus.connect("message::warning", self.on_bus_warning)

    def add_tone_sender(self, frequency):
        """audiotestsrc ! opusenc ! rtpopuspay -> a sendrecv audio transceiver of webrtcbin."""
        chain = Gst.parse_bin_from_description(
            "audiotestsrc is-live=true wave=sine volume=0.3 freq=%f ! audioconvert ! audioresample ! "
            "audio/x-raw,rate=48000,channels=1 ! opusenc frame-size=20 ! rtpopuspay pt=111 ! "
            "capsfilter caps=\"%s\"" % (frequency, OPUS_CAPS),
            True,
        )
        self.pipe.add(chain)
        pad = self.webrtc.request_pad_simple("sink_%u")
        transceiver = pad.get_property("transceiver")
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV)
        transceiver.set_property("codec-preferences", Gst.Caps.from_string(OPUS_CAPS))
        chain.get_static_pad("src").link(pad)

    # --- data channels -------------------------------------------------------------------
    def create_data_channel(self):
        channel = self.webrtc.emit("create-data-channel", "kvsDataChannel", None)
        if channel is None:
            emit({"type": "error", "message": "create-data-channel returned nothing"})
            return
        self.channels["kvsDataChannel"] = channel
        channel.connect("on-open", lambda ch: emit({"type": "dc-open", "label": ch.props.label, "origin": "viewer"}))
        channel.connect("on-message-string", lambda ch, text: emit({"type": "dc-message", "label": ch.props.label, "text": text}))
        channel.connect("on-message-data", lambda ch, data: emit(self.binary_report(ch, data)))

    @staticmethod
    def binary_report(channel, data):
        raw = data.get_data() if data is not None else b""
        return {"type": "dc-message", "label": channel.props.label, "b64": base64.b64encode(bytes(raw)).decode()}

    def on_data_channel(self, _element, channel):
        # Opened by the engine: everything received is echoed back.
        self.remote_channels.append(channel)
        emit({"type": "dc-open", "label": channel.props.label, "origin": "engine"})

        def on_string(ch, text):
            emit({"type": "dc-message", "label": ch.props.label, "text": text})
            ch.emit("send-string", text)

        def on_data(ch, data):
            emit(self.binary_report(ch, data))
            ch.emit("send-data", data)

        channel.connect("on-message-string", on_string)
        channel.connect("on-message-data", on_data)

    def send_on_channel(self, msg):
        channel = self.channels.get(msg.get("label", "kvsDataChannel"))
        if channel is None:
            emit({"type": "error", "message": "no channel %s" % msg.get("label")})
        elif "text" in msg:
            channel.emit("send-string", msg["text"])
        else:
            channel.emit("send-data", GLib.Bytes.new(base64.b64decode(msg["b64"])))

    # --- signaling ---------------------------------------------------------------------
    def on_negotiation_needed(self, element):
        if self.offer_sent:
            return
        if self.want_datachannel and "kvsDataChannel" not in self.channels:
            # webrtcbin may ask as soon as it is READY, before run() made the channel: the offer
            # waits for it, or it would lack the m=application section.
            GLib.timeout_add(20, lambda: self.on_negotiation_needed(element) and False)
            return
        self.offer_sent = True
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, element, None)
        element.emit("create-offer", None, promise)

    def on_offer_created(self, promise, element, _):
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        element.emit("set-local-description", offer, Gst.Promise.new())
        emit({"type": "offer", "sdp": offer.sdp.as_text()})

    def on_ice_candidate(self, _element, mline, candidate):
        emit({"type": "candidate", "candidate": candidate, "sdpMLineIndex": mline})

    def set_answer(self, sdp_text):
        answer = session_description("answer", sdp_text)
        if answer is None:
            emit({"type": "error", "message": "answer does not parse"})
            return
        promise = Gst.Promise.new_with_change_func(self.on_answer_set, None, None)
        self.webrtc.emit("set-remote-description", answer, promise)

    def on_answer_set(self, promise, _a, _b):
        promise.wait()
        error = reply_error(promise)
        if error is not None:
            emit({"type": "error", "message": "set-remote-description: %s" % error})
        else:
            emit({"type": "answer-set"})

    def add_candidate(self, msg):
        candidate = ice_candidate(msg)
        if candidate is not None:
            self.webrtc.emit("add-ice-candidate", *candidate)

    def on_conn_state(self, element, _pspec):
        emit({"type": "state", "state": enum_name(element.get_property("connection-state"))})

    def on_ice_state(self, element, _pspec):
        emit({"type": "ice", "state": enum_name(element.get_property("ice-connection-state"))})

    # --- media ---------------------------------------------------------------------------
    def on_pad_added(self, _element, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        media = caps.get_structure(0).get_string("media") if caps and caps.get_size() > 0 else None
        if media == "audio":
            self.decode_audio(pad)
            return
        if media != "video":
            sink = Gst.ElementFactory.make("fakesink")
            sink.set_property("async", False)
            self.pipe.add(sink)
            sink.sync_state_with_parent()
            pad.link(sink.get_static_pad("sink"))
            return
        depay = Gst.ElementFactory.make("rtph264depay")
        parse = Gst.ElementFactory.make("h264parse")
        capsf = Gst.ElementFactory.make("capsfilter")
        capsf.set_property(
            "caps", Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au")
        )
        decoder_name = "openh264dec" if Gst.ElementFactory.find("openh264dec") else "avdec_h264"
        dec = Gst.ElementFactory.make(decoder_name)
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("signal-handoffs", True)
        sink.set_property("sync", False)
        sink.set_property("async", False)
        sink.connect("handoff", self.on_decoded)
        for e in (depay, parse, capsf, dec, sink):
            self.pipe.add(e)
        depay.link(parse)
        parse.link(capsf)
        capsf.link(dec)
        dec.link(sink)
        capsf.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.on_access_unit)
        for e in (depay, parse, capsf, dec, sink):
            e.sync_state_with_parent()
        res = pad.link(depay.get_static_pad("sink"))
        emit({"type": "decoder", "name": decoder_name, "link": enum_name(res)})

    def decode_audio(self, pad):
        """rtpopusdepay ! opusdec -> mono s16 at 48 kHz -> the meter (every buffer is decoded audio)."""
        chain = Gst.parse_bin_from_description(
            "rtpopusdepay ! opusdec ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! "
            "fakesink name=audiosink signal-handoffs=true sync=false async=false",
            True,
        )
        chain.get_by_name("audiosink").connect("handoff", self.on_audio)
        self.pipe.add(chain)
        chain.sync_state_with_parent()
        res = pad.link(chain.get_static_pad("sink"))
        emit({"type": "audio-decoder", "name": "opusdec", "link": enum_name(res)})

    def on_audio(self, _sink, buf, _pad):
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            return
        samples = numpy.frombuffer(bytes(info.data), dtype=numpy.int16)
        buf.unmap(info)
        with self.lock:
            report = self.meter.add(samples)
        if report:
            emit(report)

    def on_access_unit(self, _pad, info):
        buf = info.get_buffer()
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        with self.lock:
            self.aus += 1
            if key:
                self.keyframes_in += 1
            if self.first_au_keyframe is None:
                self.first_au_keyframe = key
            self.au_keyframe[buf.pts] = key
            if len(self.au_keyframe) > 256:
                for old in sorted(self.au_keyframe)[:128]:
                    del self.au_keyframe[old]
            n, k = self.aus, self.keyframes_in
        if n % 30 == 0:
            emit({"type": "au", "n": n, "keyframes": k})
        return Gst.PadProbeReturn.OK

    def on_decoded(self, sink, buf, pad):
        caps = pad.get_current_caps()
        width = height = None
        if caps is not None and caps.get_size() > 0:
            s = caps.get_structure(0)
            ok_w, width = s.get_int("width")
            ok_h, height = s.get_int("height")
            if not (ok_w and ok_h):
                width = height = None
        with self.lock:
            self.frames += 1
            n = self.frames
            key = self.au_keyframe.pop(buf.pts, None)
            if n == 1 and key is None:
                key = self.first_au_keyframe
        emit({"type": "frame", "n": n, "width": width, "height": height, "keyframe": bool(key)})

    def on_bus_error(self, _bus, msg):
        err, dbg = msg.parse_error()
        emit({"type": "error", "message": "%s: %s" % (err.message, dbg)})

    def on_bus_warning(self, _bus, msg):
        err, dbg = msg.parse_warning()
        emit({"type": "warning", "message": "%s: %s" % (err.message, (dbg or "")[:300])})

    # --- stdin -----------------------------------------------------------------------------
    def on_stdin(self, channel, condition):
        if condition & (GLib.IOCondition.HUP | GLib.IOCondition.ERR) and not condition & GLib.IOCondition.IN:
            self.loop.quit()
            return False
        line = channel.readline()
        if not line:
            self.loop.quit()
            return False
        try:
            msg = json.loads(line)
        except ValueError:
            emit({"type": "error", "message": "bad json line"})
            return True
        kind = msg.get("type")
        if kind == "answer":
            self.set_answer(msg["sdp"])
        elif kind == "candidate":
            self.add_candidate(msg)
        elif kind == "dc-send":
            self.send_on_channel(msg)
        elif kind == "close":
            self.loop.quit()
            return False
        return True

    def run(self):
        if self.want_datachannel:
            self.pipe.set_state(Gst.State.READY)
            self.create_data_channel()
        self.pipe.set_state(Gst.State.PLAYING)
        channel = GLib.IOChannel.unix_new(sys.stdin.fileno())
        GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, self.on_stdin)
        self.loop.run()
        self.pipe.set_state(Gst.State.NULL)
        emit({"type": "closed", "frames": self.frames})


def main():
    Gst.init(None)
    needed = ("webrtcbin", "nicesrc", "rtph264depay", "h264parse", "rtpopusdepay", "opusdec", "opusenc", "rtpopuspay", "audiotestsrc")
    missing = [n for n in needed if not Gst.ElementFactory.find(n)]
    if not (Gst.ElementFactory.find("openh264dec") or Gst.ElementFactory.find("avdec_h264")):
        missing.append("openh264dec|avdec_h264")
    if missing:
        emit({"type": "error", "message": "missing GStreamer elements: " + ", ".join(missing)})
        sys.exit(3)
    policy = "max-bundle"
    send_tone = None
    for arg in sys.argv[1:]:
        if arg.startswith("--bundle-policy="):
            policy = arg.split("=", 1)[1]
        if arg.startswith("--send-tone="):
            send_tone = float(arg.split("=", 1)[1])
    Viewer("--audio" in sys.argv, policy, send_tone, "--datachannel" in sys.argv).run()


if __name__ == "__main__":
    main()
