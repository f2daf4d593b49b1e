#include "network_thread.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <string>

#include "dtls_transport.h"
#include "log.h"
#include "srtp_session.h"

namespace kvs::rtc {
namespace {

gboolean run_task(gpointer data) {
  (*static_cast<std::function<void()>*>(data))();
  return G_SOURCE_REMOVE;
}

void free_task(gpointer data) { delete static_cast<std::function<void()>*>(data); }

}  // namespace

NetworkThread& NetworkThread::instance() {
  static NetworkThread* thread = new NetworkThread();  // lives until stop(); never destroyed
  return *thread;
}

NetworkThread::NetworkThread() {
  context_ = g_main_context_new();
  loop_ = g_main_loop_new(context_, FALSE);
  std::mutex m;
  std::condition_variable cv;
  bool started = false;
  thread_ = std::thread([&] {
    pthread_setname_np(pthread_self(), "kvs-network");  // told apart in top, perf, /proc/PID/task
    g_main_context_push_thread_default(context_);
    {
      std::lock_guard<std::mutex> lock(m);
      thread_id_ = std::this_thread::get_id();
      started = true;
    }
    cv.notify_one();
    g_main_loop_run(loop_);
    g_main_context_pop_thread_default(context_);
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return started; });
}

NetworkThread::~NetworkThread() { stop(); }

void NetworkThread::post(std::function<void()> fn) {
  if (stopped_) return;
  if (on_thread()) {
    fn();
    return;
  }
  post_later(std::move(fn));
}

void NetworkThread::post_later(std::function<void()> fn) {
  if (stopped_) return;
  GSource* src = g_idle_source_new();
  g_source_set_priority(src, G_PRIORITY_DEFAULT);
  g_source_set_callback(src, run_task, new std::function<void()>(std::move(fn)), free_task);
  g_source_attach(src, context_);
  g_source_unref(src);
}

void NetworkThread::invoke(const std::function<void()>& fn) {
  if (on_thread()) {
    fn();
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  post([&] {
    fn();
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(m);
  cv.wait(lock, [&] { return done || stopped_.load(); });
}

void NetworkThread::warm_up() {
  post([] {
    (void)Certificate::instance();
    std::string error;
    if (!srtp_library_init(&error)) KVS_ERROR("engine", "%s", error.c_str());
  });
}

void NetworkThread::stop() {
  if (stopped_.exchange(true)) return;
  g_main_loop_quit(loop_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace kvs::rtc
