// Data channels (RFC 8831/8832) of one peer: the SCTP association (RFC 8841) over the DTLS
// association of its DtlsSrtpTransport, started when DTLS is up if the negotiation had an
// m=application section. Network thread only: it owns the SctpTransport and calls its listener
// there.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtls_srtp_transport.h"
#include "peer_error.h"
#include "peer_stats.h"
#include "sctp_transport.h"

namespace kvs::rtc {

class DataChannels : public SctpTransport::Listener {
 public:
  class Listener {  // network thread
   public:
    virtual ~Listener() = default;
    virtual void on_data_channel_open(const DataChannelInfo& channel) {}
    virtual void on_data_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) {}
    virtual void on_data_channel_closed(uint16_t id) {}
  };
  explicit DataChannels(std::string log_id) : id_(std::move(log_id)) {}
  void set_listener(Listener* listener) { listener_ = listener; }  // nullptr: none from now on

  // The negotiation had an m=application section; the other side's SCTP port.
  void negotiated(int remote_port);
  // DTLS is up: starts the association when negotiated.
  void start(DtlsSrtpTransport* transport);
  void receive(const uint8_t* data, size_t size) {  // DTLS application data
    if (sctp_) sctp_->receive(data, size);
  }
  std::optional<PeerError> open(const DataChannelInfo& options, int* id);
  std::optional<PeerError> send(uint16_t id, bool binary, const std::vector<uint8_t>& data);
  void close_channel(uint16_t id) {
    if (sctp_) sctp_->close_channel(id);
  }
  void close();
  void add_stats(PeerStats* s) const;

 private:
  // SctpTransport::Listener
  void on_sctp_send(const uint8_t* data, size_t size) override;
  void on_channel_open(const DataChannelInfo& channel) override;
  void on_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) override;
  void on_channel_closed(uint16_t id) override;

  std::string id_;
  Listener* listener_ = nullptr;
  DtlsSrtpTransport* transport_ = nullptr;
  std::shared_ptr<SctpTransport> sctp_;
  bool negotiated_ = false;
  int remote_port_ = 5000;
  uint64_t messages_sent_ = 0, messages_received_ = 0, bytes_sent_ = 0, bytes_received_ = 0;
};

}  // namespace kvs::rtc
