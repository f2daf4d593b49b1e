// WebRTC data channels: SCTP (RFC 8261) over DTLS through usrsctp, with the Data Channel
// Establishment Protocol (RFC 8832) and the PPIDs of RFC 8831. Owned by the network thread;
// usrsctp's own threads only hand bytes over (by id, never by pointer).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct socket;

namespace kvs::rtc {

struct DataChannelInfo {
  uint16_t id = 0;
  std::string label, protocol;
  bool ordered = true;
  int max_retransmits = -1;     // -1: reliable
  int max_packet_life_ms = -1;  // -1: no lifetime limit
  bool open = false;
};

class SctpTransport : public std::enable_shared_from_this<SctpTransport> {
 public:
  class Listener {  // network thread
   public:
    virtual ~Listener() = default;
    virtual void on_sctp_send(const uint8_t* data, size_t size) = 0;  // to DTLS
    virtual void on_channel_open(const DataChannelInfo& channel) = 0;
    virtual void on_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) = 0;
    virtual void on_channel_closed(uint16_t id) = 0;
  };

  static constexpr size_t kMaxMessageSize = 262144;

  static std::shared_ptr<SctpTransport> create(Listener* listener, std::string log_id, bool dtls_client);
  ~SctpTransport();

  // Starts the association (both sides connect, RFC 8841). Returns false with *error on failure.
  bool start(uint16_t local_port, uint16_t remote_port, std::string* error);
  void receive(const uint8_t* data, size_t size);  // SCTP packets out of DTLS
  // Opens a channel from our side: returns its id (even as DTLS client, odd as server).
  int open_channel(const DataChannelInfo& options, std::string* error);
  bool send(uint16_t id, bool binary, const uint8_t* data, size_t size, std::string* error);
  void close_channel(uint16_t id);
  void close();

  // Called on the network thread by the usrsctp trampolines.
  void handle_packet_out(std::vector<uint8_t> data);
  void handle_data(std::vector<uint8_t> data, uint16_t sid, uint32_t ppid, int flags);

 private:
  SctpTransport(Listener* listener, std::string log_id, bool dtls_client);
  void handle_dcep(uint16_t sid, const std::vector<uint8_t>& msg);
  void handle_notification(const std::vector<uint8_t>& msg);
  bool send_raw(uint16_t sid, uint32_t ppid, const uint8_t* data, size_t size, const DataChannelInfo* ch,
                std::string* error);

  Listener* listener_;
  std::string id_;
  bool dtls_client_;
  uintptr_t token_ = 0;
  struct socket* sock_ = nullptr;
  bool connected_ = false;
  std::map<uint16_t, DataChannelInfo> channels_;
  std::map<uint16_t, std::vector<uint8_t>> partial_;
  uint16_t next_id_ = 0;
};

}  // namespace kvs::rtc
