// Engine to engine over loopback, no Node: a PeerConnection in the viewer role offers, one in
// the camera role answers; ICE on 127.0.0.1, DTLS, SRTP, the camera's encoded test pattern
// reassembled into access units (with its capture-time SEI) at the viewer, and a data channel
// message each way. Every wait is bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "network_thread.h"
#include "peer_connection.h"

using namespace kvs::rtc;
using namespace std::chrono_literals;

namespace {

// What a peer's observer saw; written on the network thread, read by the test.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  PeerState state = PeerState::kNew;
  std::vector<DataChannelInfo> channels;
  std::vector<std::string> messages;
  std::vector<std::string> keyframe_requests;

  template <typename Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 15s) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return pred(*this); });
  }
};

class Recorder : public PeerConnection::Observer {
 public:
  explicit Recorder(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  void on_local_candidate(const std::string&, const std::string&, int) override {}
  void on_gathering_done() override {}
  void on_state(PeerState s) override { update([&](Seen& x) { x.state = s; }); }
  void on_keyframe_request(const char* reason) override {
    update([&](Seen& x) { x.keyframe_requests.emplace_back(reason); });
  }
  void on_data_channel_open(const DataChannelInfo& c) override { update([&](Seen& x) { x.channels.push_back(c); }); }
  void on_data_channel_message(uint16_t, bool binary, const uint8_t* data, size_t size) override {
    std::string text(reinterpret_cast<const char*>(data), size);
    update([&](Seen& x) { x.messages.push_back(binary ? "binary:" + text : text); });
  }

 private:
  template <typename F>
  void update(F f) {
    {
      std::lock_guard<std::mutex> lock(seen_->mutex);
      f(*seen_);
    }
    seen_->changed.notify_all();
  }
  std::shared_ptr<Seen> seen_;
};

PeerConfig loopback(const std::string& id) {
  PeerConfig c;
  c.id = id;
  c.ice.local_addresses = {"127.0.0.1"};
  c.wait_for_gathering = true;  // every candidate in the SDP: no trickling between the two
  return c;
}

// Runs fn on the network thread and waits for it (the engine's one owner thread).
template <typename F>
void on_network(F fn) {
  NetworkThread::instance().invoke(fn);
}

// Polls a peer's stats (on the network thread) until pred holds or the bound passes.
template <typename Pred>
bool wait_stats(const std::shared_ptr<PeerConnection>& pc, Pred pred, PeerStats* last,
                std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    on_network([&] { *last = pc->stats(); });
    if (pred(*last)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST(EnginePair, ViewerReceivesCameraVideoAndDataOverLoopback) {
  kvs::media::VideoConfig video;
  video.source = "pattern";
  video.encoder = "openh264";
  video.width = 320;
  video.height = 240;
  video.fps = 30;
  video.bitrate_kbps = 500;
  video.capture_timestamps = true;
  std::string error;
  auto track = VideoTrack::create(video, &error);
  ASSERT_TRUE(track) << error;

  auto camera_seen = std::make_shared<Seen>();
  auto viewer_seen = std::make_shared<Seen>();
  std::shared_ptr<PeerConnection> camera, viewer;
  on_network([&] {
    camera = PeerConnection::create(loopback("camera"), std::make_unique<Recorder>(camera_seen));
    camera->add_track(track);
    viewer = PeerConnection::create(loopback("viewer"), std::make_unique<Recorder>(viewer_seen));
  });

  // Offer (viewer) -> answer (camera) -> the viewer takes it. Callbacks run on the network
  // thread; the test thread waits for each step with a bound.
  std::mutex m;
  std::condition_variable cv;
  std::optional<PeerError> failure;
  std::string offer, answer;
  bool done = false;
  auto finish = [&](std::optional<PeerError> err) {
    std::lock_guard<std::mutex> lock(m);
    failure = std::move(err);
    done = true;
    cv.notify_all();
  };
  on_network([&] {
    PeerConnection::OfferOptions options;
    options.data_channel = true;
    viewer->create_offer(options, [&](std::optional<PeerError> err, std::string sdp) {
      if (err) return finish(err);
      offer = std::move(sdp);
      camera->set_remote_offer(offer, [&](std::optional<PeerError> err2, std::string sdp2) {
        if (err2) return finish(err2);
        answer = std::move(sdp2);
        viewer->set_remote_answer(answer, finish);
      });
    });
  });
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 15s, [&] { return done; })) << "no answer within 15 s";
    ASSERT_FALSE(failure) << to_string(failure->code) << ": " << failure->message;
  }
  EXPECT_NE(offer.find("a=setup:actpass"), std::string::npos);
  EXPECT_NE(answer.find("a=rtpmap:102 H264/90000"), std::string::npos) << answer;
  EXPECT_NE(answer.find("typ host"), std::string::npos) << answer;

  auto connected = [](Seen& s) { return s.state == PeerState::kConnected; };
  ASSERT_TRUE(camera_seen->wait(connected)) << "camera not connected";
  ASSERT_TRUE(viewer_seen->wait(connected)) << "viewer not connected";

  // Video: complete access units at the viewer, from an IDR on, with the camera's capture time.
  PeerStats v, c;
  ASSERT_TRUE(wait_stats(viewer, [](const PeerStats& s) { return s.frames_received >= 15 && s.glass_to_glass_samples > 0; }, &v))
      << "viewer: " << v.frames_received << " frames, " << v.video_packets_received << " packets";
  EXPECT_GE(v.keyframes_received, 1u);
  EXPECT_GT(v.first_frame_received_ms, 0);
  EXPECT_GE(v.glass_to_glass_ms, 0);
  EXPECT_LT(v.glass_to_glass_ms, 5000);
  EXPECT_EQ(v.srtp_profile.empty(), false);
  EXPECT_EQ(v.dtls_state, "connected");
  EXPECT_TRUE(v.has_pair);
  EXPECT_EQ(v.local_address.rfind("127.0.0.1", 0), 0u) << v.local_address;
  EXPECT_TRUE(v.transport_cc);

  on_network([&] { c = camera->stats(); });
  EXPECT_GE(c.frames_sent, v.frames_received);
  EXPECT_GT(c.packets_sent, 0u);
  EXPECT_GE(c.keyframes_sent, 1u);
  EXPECT_EQ(c.send_errors, 0u);
  EXPECT_TRUE(c.transport_cc);
  EXPECT_EQ(c.dtls_role == "client", v.dtls_role == "server");
  // The camera's receiver-side feedback reached it: transport-wide feedback from the viewer.
  ASSERT_TRUE(wait_stats(camera, [](const PeerStats& s) { return s.twcc_feedback_received > 0; }, &c));
  EXPECT_EQ(c.estimate_source, "twcc");

  // A data channel from the viewer, a message each way.
  int id = -1;
  std::optional<PeerError> dc_error;
  auto open_after = std::chrono::steady_clock::now() + 10s;
  do {  // SCTP starts with DTLS: the association may still be coming up
    on_network([&] { dc_error = viewer->open_data_channel(DataChannelInfo{0, "chat", "", true, -1, -1, false}, &id); });
    if (!dc_error) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < open_after);
  ASSERT_FALSE(dc_error) << dc_error->message;
  ASSERT_TRUE(camera_seen->wait([](Seen& s) { return !s.channels.empty(); })) << "no channel at the camera";
  EXPECT_EQ(camera_seen->channels[0].label, "chat");
  std::vector<uint8_t> hello = {'h', 'e', 'l', 'l', 'o'};
  on_network([&] { dc_error = viewer->send_data(static_cast<uint16_t>(id), false, hello); });
  ASSERT_FALSE(dc_error) << dc_error->message;
  ASSERT_TRUE(camera_seen->wait([](Seen& s) { return !s.messages.empty(); })) << "no message at the camera";
  EXPECT_EQ(camera_seen->messages[0], "hello");
  std::vector<uint8_t> reply = {'o', 'k'};
  on_network([&] { dc_error = camera->send_data(camera_seen->channels[0].id, true, reply); });
  ASSERT_FALSE(dc_error) << dc_error->message;
  ASSERT_TRUE(viewer_seen->wait([](Seen& s) { return !s.messages.empty(); })) << "no reply at the viewer";
  EXPECT_EQ(viewer_seen->messages[0], "binary:ok");

  on_network([&] {
    viewer->close();
    camera->close();
    c = camera->stats();
  });
  EXPECT_EQ(c.state, PeerState::kClosed);
  EXPECT_EQ(c.data_messages_received, 1u);
  EXPECT_EQ(c.data_messages_sent, 1u);
  on_network([&] {
    viewer.reset();
    camera.reset();
  });
  track->close();
}
