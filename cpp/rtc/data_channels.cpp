#include "data_channels.h"

#include "log.h"

namespace kvs::rtc {

void DataChannels::negotiated(int remote_port) {
  negotiated_ = true;
  remote_port_ = remote_port;
}

void DataChannels::start(DtlsSrtpTransport* transport) {
  transport_ = transport;
  if (!negotiated_ || sctp_) return;
  sctp_ = SctpTransport::create(this, id_, transport->is_client());
  std::string error;
  if (!sctp_->start(5000, static_cast<uint16_t>(remote_port_), &error))
    KVS_ERROR(id_, "data channels unavailable: %s", error.c_str());
}

std::optional<PeerError> DataChannels::open(const DataChannelInfo& options, int* id) {
  if (!sctp_) return PeerError{ErrorCode::kInvalidState, "data channels are not negotiated or DTLS is not up yet"};
  std::string error;
  *id = sctp_->open_channel(options, &error);
  if (*id < 0) return PeerError{ErrorCode::kInvalidState, error};
  return std::nullopt;
}

std::optional<PeerError> DataChannels::send(uint16_t id, bool binary, const std::vector<uint8_t>& data) {
  if (!sctp_) return PeerError{ErrorCode::kInvalidState, "data channels are not negotiated or DTLS is not up yet"};
  std::string error;
  if (!sctp_->send(id, binary, data.data(), data.size(), &error)) return PeerError{ErrorCode::kInvalidArg, error};
  ++messages_sent_;
  bytes_sent_ += data.size();
  return std::nullopt;
}

void DataChannels::close() {
  if (sctp_) sctp_->close();
}

void DataChannels::on_sctp_send(const uint8_t* data, size_t size) {
  if (transport_) transport_->send_application_data(data, size);
}

void DataChannels::on_channel_open(const DataChannelInfo& channel) {
  KVS_INFO(id_, "data channel %u \"%s\" open", channel.id, channel.label.c_str());
  if (listener_) listener_->on_data_channel_open(channel);
}

void DataChannels::on_channel_message(uint16_t id, bool binary, const uint8_t* data, size_t size) {
  ++messages_received_;
  bytes_received_ += size;
  if (listener_) listener_->on_data_channel_message(id, binary, data, size);
}

void DataChannels::on_channel_closed(uint16_t id) {
  if (listener_) listener_->on_data_channel_closed(id);
}

void DataChannels::add_stats(PeerStats* s) const {
  s->data_messages_sent = messages_sent_;
  s->data_messages_received = messages_received_;
  s->data_bytes_sent = bytes_sent_;
  s->data_bytes_received = bytes_received_;
}

}  // namespace kvs::rtc
