#include "audio_sink.h"

#include <fcntl.h>
#include <poll.h>
#include <opus/opus.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "g711.h"
#include "ogg.h"

extern char** environ;

namespace kvs::media {
namespace {

constexpr int kRate = 48000;
constexpr int kMaxFrame = 5760;     // 120 ms at 48 kHz, the largest Opus packet
constexpr int kMaxConcealed = 5;    // decoded sinks conceal up to 100 ms of lost packets
constexpr int kMaxLostFrames = 50;  // the Ogg sink fills up to 1 s of lost packets

void le16(uint8_t* p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
void le32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = (v >> (8 * i)) & 0xff; }

// Decodes Opus or G.711 to 48 kHz PCM with `channels` channels and hands it to write_pcm().
class DecodingSink : public AudioSink {
 protected:
  DecodingSink(SinkCodec codec, int channels) : AudioSink(codec), channels_(channels) {}
  ~DecodingSink() override {
    if (decoder_) opus_decoder_destroy(decoder_);
  }
  bool open_decoder(std::string* error) {
    if (codec_ != SinkCodec::kOpus) return true;
    int err = 0;
    decoder_ = opus_decoder_create(kRate, channels_, &err);
    if (err != OPUS_OK || !decoder_) {
      *error = std::string("cannot open the Opus decoder: ") + opus_strerror(err);
      decoder_ = nullptr;
      return false;
    }
    return true;
  }
  virtual void write_pcm(const int16_t* pcm, int frames) = 0;

  void on_packet(const uint8_t* payload, size_t size, int lost) override {
    if (codec_ != SinkCodec::kOpus) {
      mono_.clear();
      g711_to_48k(payload, size, codec_ == SinkCodec::kPcma, &prev_, &mono_);
      if (channels_ == 1) {
        write_pcm(mono_.data(), static_cast<int>(mono_.size()));
      } else {
        pcm_.resize(mono_.size() * channels_);
        for (size_t i = 0; i < mono_.size(); ++i)
          for (int c = 0; c < channels_; ++c) pcm_[i * channels_ + c] = mono_[i];
        write_pcm(pcm_.data(), static_cast<int>(mono_.size()));
      }
      return;
    }
    pcm_.resize(static_cast<size_t>(kMaxFrame) * channels_);
    for (int i = 0; i < lost && i < kMaxConcealed; ++i) {
      int n = opus_decode(decoder_, nullptr, 0, pcm_.data(), 960, 0);
      if (n > 0) write_pcm(pcm_.data(), n);
    }
    int n = opus_decode(decoder_, payload, static_cast<opus_int32>(size), pcm_.data(), kMaxFrame, 0);
    if (n < 0) {
      ++stats_.decode_errors;
      return;
    }
    write_pcm(pcm_.data(), n);
  }

  int channels_;
  OpusDecoder* decoder_ = nullptr;
  int16_t prev_ = 0;
  std::vector<int16_t> pcm_, mono_;
};

// 48 kHz s16 stereo WAV; the RIFF sizes are written on close (and are 0 until then).
class WavSink final : public DecodingSink {
 public:
  explicit WavSink(SinkCodec codec) : DecodingSink(codec, 2) {}
  ~WavSink() override { close(); }
  bool open(const std::string& path, std::string* error) {
    if (!open_decoder(error)) return false;
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) {
      *error = "cannot write the talk-back file \"" + path + "\": " + std::strerror(errno);
      return false;
    }
    write_header();
    return true;
  }
  void close() override {
    if (!file_) return;
    write_header();
    std::fclose(file_);
    file_ = nullptr;
  }

 private:
  void write_header() {
    uint8_t h[44];
    uint32_t data_bytes = static_cast<uint32_t>(stats_.samples * channels_ * 2);
    std::memcpy(h, "RIFF", 4);
    le32(h + 4, 36 + data_bytes);
    std::memcpy(h + 8, "WAVEfmt ", 8);
    le32(h + 16, 16);
    le16(h + 20, 1);  // PCM
    le16(h + 22, static_cast<uint16_t>(channels_));
    le32(h + 24, kRate);
    le32(h + 28, kRate * channels_ * 2);
    le16(h + 32, static_cast<uint16_t>(channels_ * 2));
    le16(h + 34, 16);
    std::memcpy(h + 36, "data", 4);
    le32(h + 40, data_bytes);
    std::fseek(file_, 0, SEEK_SET);
    std::fwrite(h, 1, sizeof h, file_);
    std::fseek(file_, 0, SEEK_END);
  }
  void write_pcm(const int16_t* pcm, int frames) override {
    if (!file_) return;
    size_t n = std::fwrite(pcm, sizeof(int16_t), static_cast<size_t>(frames) * channels_, file_);
    stats_.bytes_written += n * sizeof(int16_t);
    stats_.samples += static_cast<uint64_t>(frames);
  }
  std::FILE* file_ = nullptr;
};

// Ogg Opus: header pages at open, one page per second of audio, an end-of-stream page on close.
class OggOpusSink final : public AudioSink {
 public:
  explicit OggOpusSink(SinkCodec codec) : AudioSink(codec), writer_(std::random_device{}()) {}
  ~OggOpusSink() override {
    close();
    if (encoder_) opus_encoder_destroy(encoder_);
  }
  bool open(const std::string& path, std::string* error) {
    int channels = 2;  // opus/48000/2 as WebRTC signals it: mono or stereo packets decode into it
    uint16_t pre_skip = 0;  // the sender's encoder delay is unknown; 0 is valid (RFC 7845 4.2)
    if (codec_ != SinkCodec::kOpus) {
      int err = 0;
      encoder_ = opus_encoder_create(kRate, 1, OPUS_APPLICATION_VOIP, &err);
      if (err != OPUS_OK || !encoder_) {
        *error = std::string("cannot open the Opus encoder: ") + opus_strerror(err);
        encoder_ = nullptr;
        return false;
      }
      opus_encoder_ctl(encoder_, OPUS_SET_BITRATE(24000));
      opus_int32 lookahead = 0;
      opus_encoder_ctl(encoder_, OPUS_GET_LOOKAHEAD(&lookahead));
      channels = 1;
      pre_skip = static_cast<uint16_t>(lookahead);
    }
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) {
      *error = "cannot write the talk-back file \"" + path + "\": " + std::strerror(errno);
      return false;
    }
    granule_ = pre_skip;
    auto head = make_opus_head(channels, pre_skip, codec_ == SinkCodec::kOpus ? kRate : 8000);
    write(writer_.add(head.data(), head.size(), 0));
    write(writer_.flush());  // OpusHead alone on the first page (RFC 7845 3)
    auto tags = make_opus_tags("kvs-edge");
    write(writer_.add(tags.data(), tags.size(), 0));
    write(writer_.flush());  // audio starts on a fresh page
    return true;
  }
  void close() override {
    if (!file_) return;
    write(writer_.flush(true));
    std::fclose(file_);
    file_ = nullptr;
  }

 private:
  void on_packet(const uint8_t* payload, size_t size, int lost) override {
    if (!file_) return;
    if (codec_ != SinkCodec::kOpus) {
      g711_to_48k(payload, size, codec_ == SinkCodec::kPcma, &prev_, &pcm_);
      uint8_t packet[1500];
      size_t off = 0;
      for (; pcm_.size() - off >= 960; off += 960) {
        int len = opus_encode(encoder_, pcm_.data() + off, 960, packet, sizeof packet);
        if (len > 0) add_packet(packet, static_cast<size_t>(len), 960);
      }
      pcm_.erase(pcm_.begin(), pcm_.begin() + static_cast<std::ptrdiff_t>(off));
      return;
    }
    int samples = opus_packet_get_nb_samples(payload, static_cast<opus_int32>(size), kRate);
    if (samples <= 0 || size == 0) {
      ++stats_.decode_errors;  // not a valid Opus packet: not stored
      return;
    }
    static const uint8_t kLostFrame = 0xf8;  // TOC: CELT fullband 20 ms, one frame of 0 bytes
    for (int i = 0; i < lost && i < kMaxLostFrames; ++i) add_packet(&kLostFrame, 1, 960);
    add_packet(payload, size, samples);
  }
  void add_packet(const uint8_t* data, size_t size, int samples) {
    granule_ += static_cast<uint64_t>(samples);
    stats_.samples += static_cast<uint64_t>(samples);
    write(writer_.add(data, size, static_cast<int64_t>(granule_)));
    if (++on_page_ >= 50) {  // about one second per page
      write(writer_.flush());
      on_page_ = 0;
    }
  }
  void write(const std::vector<uint8_t>& bytes) {
    if (bytes.empty() || !file_) return;
    stats_.bytes_written += std::fwrite(bytes.data(), 1, bytes.size(), file_);
    std::fflush(file_);
  }
  OggWriter writer_;
  std::FILE* file_ = nullptr;
  OpusEncoder* encoder_ = nullptr;
  uint64_t granule_ = 0;
  int on_page_ = 0;
  int16_t prev_ = 0;
  std::vector<int16_t> pcm_;
};

// A supervised playback command fed s16le 48 kHz mono on its stdin. stdin is one end of a Unix
// socket pair, so a write to a command that has exited fails with EPIPE (MSG_NOSIGNAL) instead
// of raising SIGPIPE in our process. Writes never block: what the command does not take is
// kept (up to 2 s), and audio beyond that is dropped and counted.
class CommandSink final : public DecodingSink {
 public:
  using Clock = std::chrono::steady_clock;
  CommandSink(SinkCodec codec, std::vector<std::string> argv) : DecodingSink(codec, 1), argv_(std::move(argv)) {}
  ~CommandSink() override { close(); }

  bool open(std::string* error) {
    if (argv_.empty() || argv_[0].empty()) {
      *error = "the playback command is empty (give argv, e.g. [\"aplay\", \"-f\", \"S16_LE\", \"-r\", \"48000\", \"-c\", \"1\", \"-\"])";
      return false;
    }
    if (!open_decoder(error)) return false;
    std::string spawn_error;
    if (!spawn(&spawn_error)) {
      *error = "the playback command \"" + argv_[0] + "\" cannot be started: " + spawn_error;
      return false;
    }
    return true;
  }

  void close() override {
    closed_ = true;
    drain(std::chrono::milliseconds(1000));  // what the command has not taken yet, briefly
    stop_child();
  }

 private:
  bool spawn(std::string* error) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      *error = std::string("socketpair: ") + std::strerror(errno);
      return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 0);                        // stdin
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);     // stdout (tee)
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);  // Node ignores SIGPIPE; the command gets the default back
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> argv;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(sv[1]);
    if (rc != 0) {
      ::close(sv[0]);
      *error = std::strerror(rc);
      return false;
    }
    pid_ = pid;
    fd_ = sv[0];
    started_at_ = Clock::now();
    return true;
  }

  // The command is gone (or we close): reap it without blocking the caller for long.
  void stop_child() {
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_WR);  // EOF on its stdin: `dd`/`tee` finish their writes and exit
      ::close(fd_);
      fd_ = -1;
    }
    backlog_.clear();
    if (pid_ > 0) {
      pid_t pid = pid_;
      pid_ = -1;
      if (waitpid(pid, nullptr, WNOHANG) == 0) {
        std::thread([pid] {  // a command that does not exit on EOF is terminated, then killed
          for (int i = 0; i < 40; ++i) {
            if (waitpid(pid, nullptr, WNOHANG) != 0) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
          ::kill(pid, SIGTERM);
          for (int i = 0; i < 20; ++i) {
            if (waitpid(pid, nullptr, WNOHANG) != 0) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
          ::kill(pid, SIGKILL);
          waitpid(pid, nullptr, 0);
        }).detach();
      }
    }
  }

  void child_died() {
    // Ran long enough: the next failure starts from the shortest backoff again.
    if (Clock::now() - started_at_ > std::chrono::seconds(10)) backoff_ = std::chrono::milliseconds(250);
    stop_child();
    next_start_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(8000));
  }

  bool running() {
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;  // reaped here
      child_died();
    }
    if (pid_ <= 0 && !closed_ && Clock::now() >= next_start_) {
      std::string error;
      if (spawn(&error)) ++stats_.restarts;
      else child_died();
    }
    return pid_ > 0 && fd_ >= 0;
  }

  void write_pcm(const int16_t* pcm, int frames) override {
    size_t bytes = static_cast<size_t>(frames) * sizeof(int16_t);
    if (!running() || backlog_.size() + bytes > kMaxBacklog) {
      ++stats_.dropped;
      return;
    }
    auto p = reinterpret_cast<const uint8_t*>(pcm);
    backlog_.insert(backlog_.end(), p, p + bytes);
    while (!backlog_.empty()) {
      ssize_t n = ::send(fd_, backlog_.data(), backlog_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        stats_.bytes_written += static_cast<uint64_t>(n);
        backlog_.erase(backlog_.begin(), backlog_.begin() + n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;  // the command is slow: kept for the next packet
      } else {
        child_died();  // EPIPE/ECONNRESET: it exited; what was queued is dropped
        break;
      }
    }
    stats_.samples += static_cast<uint64_t>(frames);
  }

  // Sends the backlog; waits for the command to read for at most `limit` when it is slow.
  void drain(std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (fd_ >= 0 && !backlog_.empty() && Clock::now() < end) {
      ssize_t n = ::send(fd_, backlog_.data(), backlog_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        stats_.bytes_written += static_cast<uint64_t>(n);
        backlog_.erase(backlog_.begin(), backlog_.begin() + n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        pollfd pfd{fd_, POLLOUT, 0};
        ::poll(&pfd, 1, 20);
      } else {
        return;
      }
    }
  }

  static constexpr size_t kMaxBacklog = 2 * kRate * sizeof(int16_t);  // 2 s
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool closed_ = false;
  std::vector<uint8_t> backlog_;
  Clock::time_point started_at_{}, next_start_{};
  std::chrono::milliseconds backoff_{250};
};

}  // namespace

std::unique_ptr<AudioSink> AudioSink::open(const AudioSinkConfig& config, SinkCodec codec, std::string* error) {
  if (config.kind == "wav" || config.kind == "ogg") {
    if (config.path.empty()) {
      *error = "talk-back sink \"" + config.kind + "\" needs a file path";
      return nullptr;
    }
  }
  if (config.kind == "wav") {
    auto s = std::make_unique<WavSink>(codec);
    if (!s->open(config.path, error)) return nullptr;
    return s;
  }
  if (config.kind == "ogg") {
    auto s = std::make_unique<OggOpusSink>(codec);
    if (!s->open(config.path, error)) return nullptr;
    return s;
  }
  if (config.kind == "command") {
    auto s = std::make_unique<CommandSink>(codec, config.command);
    if (!s->open(error)) return nullptr;
    return s;
  }
  *error = "talk-back sink kind \"" + config.kind + "\" (supported: wav, ogg, command)";
  return nullptr;
}

void AudioSink::push(const uint8_t* payload, size_t size, uint16_t sequence) {
  int lost = 0;
  if (have_seq_) {
    uint16_t gap = static_cast<uint16_t>(sequence - last_seq_);
    if (gap == 0 || gap > 0x8000) return;  // duplicate or late: dropped
    lost = gap - 1;
  }
  have_seq_ = true;
  last_seq_ = sequence;
  ++stats_.packets;
  stats_.bytes += size;
  on_packet(payload, size, lost);
}

void g711_to_48k(const uint8_t* payload, size_t size, bool alaw, int16_t* prev, std::vector<int16_t>* out) {
  out->reserve(out->size() + size * 6);
  for (size_t i = 0; i < size; ++i) {
    int v = alaw ? alaw_to_linear(payload[i]) : ulaw_to_linear(payload[i]);
    for (int k = 1; k <= 6; ++k) out->push_back(static_cast<int16_t>(*prev + (v - *prev) * k / 6));
    *prev = static_cast<int16_t>(v);
  }
}

}  // namespace kvs::media
