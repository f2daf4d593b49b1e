// The one network thread: a GLib main loop on its own context. libnice agents, DTLS, SRTP,
// RTCP timers and all peer state live here; other threads hand work over with post().
#pragma once
#include <glib.h>

#include <atomic>
#include <functional>
#include <thread>

namespace kvs::rtc {

class NetworkThread {
 public:
  // The process-wide instance, started on first use.
  static NetworkThread& instance();

  GMainContext* context() const { return context_; }
  bool on_thread() const { return std::this_thread::get_id() == thread_id_; }
  // Runs fn on the network thread (at once when called from it). Thread-safe.
  void post(std::function<void()> fn);
  // Queues fn for a later iteration of the loop, even when called from the network thread.
  void post_later(std::function<void()> fn);
  // Runs fn on the network thread and waits for it. Must not be called from the network thread.
  void invoke(const std::function<void()>& fn);
  // Does the once-per-process work (DTLS certificate, SRTP self-tests) on the network thread
  // ahead of the first viewer. Returns at once.
  void warm_up();
  // Stops the loop and joins the thread; later post() calls are dropped. Idempotent.
  void stop();

 private:
  NetworkThread();
  ~NetworkThread();

  GMainContext* context_;
  GMainLoop* loop_;
  std::thread thread_;
  std::thread::id thread_id_;
  std::atomic<bool> stopped_{false};
};

}  // namespace kvs::rtc
