"""What the GStreamer webrtcbin peers share (test/peers3/gst_viewer.py and
bench/peers/gst_sender.py): the GI set-up (Gst, GstSdp, GstWebRTC, GLib), one JSON object a line
on stdout, and the JSON-lines signaling's SDP and ICE candidates in webrtcbin's forms.

Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-plugins-bad-1.0). A script in this
folder imports it directly; one elsewhere puts this folder on sys.path first.
"""

import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

__all__ = ["GLib", "Gst", "GstSdp", "GstWebRTC", "emit", "enum_name", "session_description", "ice_candidate", "reply_error"]

_out_lock = threading.Lock()


def emit(obj):
    """One JSON line on stdout; safe from any thread (GStreamer's streaming threads too)."""
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def enum_name(value):
    nick = getattr(value, "value_nick", None)
    return nick if nick else str(value)


_SDP_TYPES = {"offer": GstWebRTC.WebRTCSDPType.OFFER, "answer": GstWebRTC.WebRTCSDPType.ANSWER}


def session_description(kind, sdp_text):
    """webrtcbin's session description of `kind` ("offer" or "answer") for the SDP text, or None
    where the text does not parse."""
    res, sdpmsg = GstSdp.SDPMessage.new_from_text(sdp_text)
    if res != GstSdp.SDPResult.OK:
        return None
    return GstWebRTC.WebRTCSessionDescription.new(_SDP_TYPES[kind], sdpmsg)


def ice_candidate(msg):
    """(m-line index, candidate) of a signaling candidate message, as webrtcbin's add-ice-candidate
    takes them (no "a=" prefix; index 0 where the message has none), or None for an empty
    candidate (end of candidates: webrtcbin wants nothing)."""
    text = msg.get("candidate") or ""
    if text == "":
        return None
    if text.startswith("a="):
        text = text[2:]
    mline = msg.get("sdpMLineIndex")
    return (0 if mline is None else mline, text)


def reply_error(promise):
    """The error a webrtcbin promise was answered with (after promise.wait()), or None."""
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        return reply.get_value("error")
    return None
