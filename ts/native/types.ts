// Public types of the native engine's TypeScript face. No media bytes ever appear here.

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface IceCandidateInit {
  /** "candidate:..." line without the "a=" prefix; "" means end-of-candidates. */
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** 'pattern': test pattern, encoded; 'file': an H.264 Annex-B file (looped, paced at fps);
 * 'pipe': a command (argv, no shell) whose stdout is H.264 Annex-B or raw frames (pipeFormat),
 * restarted when it exits; 'v4l2': a V4L2 camera (raw formats encoded, H.264 passed through). */
export type VideoSourceKind = 'pattern' | 'file' | 'pipe' | 'v4l2';

/** 'auto': the board's V4L2 M2M encoder when it opens and gives H.264, else openh264. */
export type VideoEncoderKind = 'auto' | 'openh264' | 'v4l2m2m';

export interface VideoTrackOptions {
  /** Raw source. 'pattern': moving test pattern with a visible frame counter. */
  source?: VideoSourceKind;
  /** For 'file'. */
  path?: string;
  /** For 'file': start again at the end (default true). */
  loop?: boolean;
  /** For 'pipe': argv of the command. */
  command?: string[];
  /** For 'pipe': what the command writes: H.264 Annex-B (default) or raw frames of width x height. */
  pipeFormat?: 'h264' | 'i420' | 'nv12' | 'yuyv';
  /** For 'v4l2': the capture node (default /dev/video0). */
  device?: string;
  /** For 'v4l2': 'NV12' | 'YU12' | 'I420' | 'YUYV' | 'H264'; default: the first of those the camera offers. */
  captureFormat?: string;
  /** Encoder for raw sources (default 'auto'). */
  encoder?: VideoEncoderKind;
  /** V4L2 M2M encoder node (board profile). */
  encoderDevice?: string;
  /** Board profile quirks of that encoder, e.g. 'needs-stride-multiple-of-32'. */
  encoderQuirks?: string[];
  /** Board profile control ids (0 / absent: the standard V4L2 ids). */
  encoderBitrateCid?: number;
  encoderIdrPeriodCid?: number;
  /** Board profile alignment of the encoder's raw buffers. */
  encoderWidthAlign?: number;
  encoderHeightAlign?: number;
  /** Embed capture timestamps as H.264 SEI (viewers then report glassToGlassMs). */
  captureTimestamps?: boolean;
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** Frames between IDRs. */
  keyframeInterval?: number;
  /**
   * H.264 quantiser bounds for raw sources (1..51; default: the encoder's). A floor keeps rate
   * control from skipping pictures on hard scenes (openh264 at 2 Mbps on a moving 720p30
   * pattern: ~16 fps without, ~28 fps with qpMin 32) at the cost of detail in easy ones.
   */
  qpMin?: number;
  qpMax?: number;
}

export interface AudioTrackOptions {
  /**
   * 'tone': a 440 Hz beep (300 ms each second); 'pcm': raw s16le 48 kHz PCM from `path`, looped;
   * 'ogg': an Ogg Opus file at `path`, looped: sent as it is when every packet lasts 20 ms,
   * otherwise decoded and re-encoded (channels come from its OpusHead).
   */
  source?: 'tone' | 'pcm' | 'ogg';
  path?: string;
  frequency?: number;
  channels?: 1 | 2;
  bitrateBps?: number;
}

export interface AudioTrackStats {
  framesEncoded: number;
  bytesEncoded: number;
  framesDropped: number;
  subscribers: number;
  /** Subscribers that negotiated PCMU/PCMA; G.711 is encoded only while there is one. */
  g711Subscribers: number;
  g711Frames: number;
  /** Times a file source started over. */
  loops: number;
  /** An Ogg Opus file's packets are sent as they are (no re-encode). */
  passthrough: boolean;
}

export interface TrackStats {
  framesEncoded: number;
  keyframesEncoded: number;
  bytesEncoded: number;
  keyframeRequests: number;
  /** IDRs made at once on a request from the newest picture already captured, instead of at the next capture. */
  immediateKeyframes: number;
  subscribers: number;
  bitrateKbps: number;
  /** What rate control asks of the encoder now: the weakest viewer's estimate, within bounds. */
  targetBitrateKbps: number;
  framesDropped: number;
  width: number;
  height: number;
  fps: number;
  /** The encoder that runs: 'openh264', 'v4l2m2m', or 'passthrough' for H.264 sources. */
  encoder: 'openh264' | 'v4l2m2m' | 'passthrough';
  /** Why that encoder (auto's choice and what failed, or the configuration). */
  encoderReason: string;
  encoderDevice?: string;
  /** The source, e.g. "v4l2 /dev/video0 (uvcvideo) YUYV 640x480@30". */
  source: string;
  /** Pipe command restarts / capture device reopenings. */
  sourceRestarts: number;
  /** Frames the capture driver dropped (sequence gaps). */
  sourceFramesDropped: number;
  encodeErrors: number;
  captureTimestamps: boolean;
}

export interface PeerConnectionOptions {
  /** Id used in native log lines and events; generated when absent. */
  id?: string;
  iceServers?: IceServer[];
  iceTransportPolicy?: 'all' | 'relay';
  /**
   * Gather host TCP candidates (RFC 6544) and accept the peer's (default false). TURN over TCP
   * works without them. Off, a controlling agent keeps aggressive nomination: media starts one
   * check round earlier.
   */
  iceTcpCandidates?: boolean;
  /** Restrict host candidates to these local IP addresses (default: every interface). */
  localAddresses?: string[];
  /** Resolve setRemoteOffer only when gathering is complete, with every candidate in the answer. */
  waitForGathering?: boolean;
  /**
   * The viewer's audio (talk-back, Opus or G.711): a WAV file (48 kHz, 16-bit, stereo), an Ogg
   * Opus file (format from the extension .ogg/.opus unless given), or a playback command (argv,
   * no shell) fed s16le 48 kHz mono on its stdin and restarted with backoff when it exits.
   */
  audioSink?: AudioSinkOptions;
  /** Our DTLS role when the offer says a=setup:actpass ('auto' = client, as RFC 8842 recommends). */
  dtlsRole?: 'auto' | 'client' | 'server';
}

/** Viewer role: what our offer asks the camera for. */
export interface OfferOptions {
  /** H.264, receive only (default true). */
  video?: boolean;
  /** Opus: 'recvonly', or 'sendrecv' with an AudioTrack added for talk-back. */
  audio?: 'recvonly' | 'sendrecv';
  /** Also offer SCTP data channels. */
  dataChannel?: boolean;
}

export interface DataChannelInfo {
  id: number;
  label: string;
  protocol: string;
  ordered: boolean;
}

export interface DataChannelOptions {
  ordered?: boolean;
  /** Partial reliability (RFC 8831 6.1): at most this many retransmissions... */
  maxRetransmits?: number;
  /** ...or at most this many milliseconds. Not both. */
  maxPacketLifeTime?: number;
  protocol?: string;
}

export interface DataChannelMessage {
  /** The channel's id (SCTP stream). */
  id: number;
  /** Text messages arrive as strings, binary as Buffers (up to 256 KiB). */
  data: string | Buffer;
}

export type PeerState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export type KeyframeReason = 'pli' | 'fir' | 'join';

export type AudioSinkOptions = { path: string; format?: 'wav' | 'ogg' } | { command: string[] };

export interface PeerStats {
  id: string;
  state: PeerState;
  iceState: string;
  dtlsState: string;
  dtlsRole?: 'client' | 'server';
  srtpProfile?: 'SRTP_AES128_CM_SHA1_80' | 'SRTP_AEAD_AES_128_GCM';
  sendErrors: number;
  /** Batched sends of video (docs/send-path.md): system calls (sendmmsg, runs of equal-size
   * packets as UDP GSO) and the packets that left through them. Both stay 0 on a relayed (TURN)
   * or TCP pair, where libnice sends each packet. */
  sendBatches: number;
  packetsSentBatched: number;
  retransmitted: number;
  /** Retransmissions go out as RTX (RFC 4588) because the viewer negotiated it. */
  rtx: boolean;
  audioPacketsSent: number;
  audioPacketsReceived: number;
  audioBytesReceived: number;
  audioSamplesWritten: number;
  /** Talk-back sink: payloads taken, bytes written (file or command stdin), packets dropped while the command was down or slow, command restarts. */
  audioSinkPackets: number;
  audioSinkBytes: number;
  audioSinkDropped: number;
  audioSinkRestarts: number;
  dataMessagesSent: number;
  dataMessagesReceived: number;
  dataBytesSent: number;
  dataBytesReceived: number;
  /** Viewer role: complete H.264 access units received (from the first keyframe on). */
  framesReceived: number;
  keyframesReceived: number;
  videoBytesReceived: number;
  /** Viewer role: access units dropped because a packet was missing. */
  incompleteFrames: number;
  /** Viewer role: video RTP packets received, and lost (expected from the sequence numbers minus received). */
  videoPacketsReceived: number;
  videoPacketsLost: number;
  /** Receiver reports we sent (for the camera's video in the viewer role, the talk-back in the camera role). */
  receiverReportsSent: number;
  /** Camera role: frames since the last IDR sent at once when this viewer connected (0: it waited for a fresh IDR). */
  joinBurstFrames: number;
  /** Viewer role, when the camera embeds capture-timestamp SEI: wall clock at reception minus
   * capture time of the last frame, the mean, and how many frames carried one. */
  glassToGlassMs?: number;
  glassToGlassMeanMs?: number;
  glassToGlassSamples?: number;
  selectedPair?: { local: string; remote: string; localType: string; remoteType: string };
  packetsSent: number;
  bytesSent: number;
  framesSent: number;
  keyframesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  pliReceived: number;
  firReceived: number;
  nackReceived: number;
  rttMs?: number;
  fractionLost?: number;
  jitter?: number;
  /** This viewer's path estimate in force (see estimateSource), kbps. */
  estimatedBitrateKbps?: number;
  /** Which estimate is in force: the lower of REMB and TWCC when the viewer sends either, else loss-based from receiver reports. */
  estimateSource?: 'remb' | 'twcc' | 'loss';
  /** Transport-wide congestion control negotiated (header extension + transport-cc feedback). */
  transportCc: boolean;
  /** Transport-cc feedback packets received (well-formed), refused as malformed, and sent (for what we receive). */
  twccFeedbackReceived: number;
  twccFeedbackErrors: number;
  twccFeedbackSent: number;
  /** From the viewer's transport-cc feedback: our estimate, the acknowledged bitrate (kbps), the loss fraction, the delay-gradient signal. */
  twccEstimateKbps?: number;
  twccAckedKbps?: number;
  twccLossFraction?: number;
  twccDelaySignal?: 'normal' | 'overuse' | 'underuse';
  /** Milliseconds from setRemoteOffer to each phase. */
  timing: { iceConnectedMs?: number; dtlsConnectedMs?: number; firstFrameSentMs?: number; firstFrameReceivedMs?: number };
}

export interface PeerConnectionEvents {
  candidate: [IceCandidateInit];
  'gathering-done': [];
  state: [PeerState];
  'keyframe-request': [KeyframeReason];
  /** A data channel opened by either side. */
  datachannel: [DataChannelInfo];
  'datachannel-message': [DataChannelMessage];
  'datachannel-close': [{ id: number }];
  error: [NativeError];
}

export type NativeErrorCode =
  | 'ERR_SDP_PARSE'
  | 'ERR_SDP_UNSUPPORTED'
  | 'ERR_INVALID_ARG'
  | 'ERR_INVALID_STATE'
  | 'ERR_ICE'
  | 'ERR_DTLS'
  | 'ERR_MEDIA'
  | 'ERR_CLOSED';

export class NativeError extends Error {
  readonly code: NativeErrorCode;
  constructor(code: NativeErrorCode, message: string) {
    super(message);
    this.name = 'NativeError';
    this.code = code;
  }
}
