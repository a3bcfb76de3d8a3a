// Host test support: a watchdog that aborts the process with a named message if it is still
// alive after `limit` — a lost wake-up hangs a test, and this turns it into a quick, named
// failure instead of a ctest timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace test_support {

class Watchdog {
public:
    explicit Watchdog(const char* what = "test", std::chrono::seconds limit = std::chrono::seconds(20))
        : m_thread([this, what, limit] {
              std::unique_lock<std::mutex> guard(m_lock);
              if (!m_cv.wait_for(guard, limit, [this] { return m_done; })) {
                  std::fprintf(stderr, "watchdog: '%s' made no progress for %llds (lost wake-up?)\n", what,
                               static_cast<long long>(limit.count()));
                  std::abort();
              }
          })
    {
    }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> guard(m_lock);
            m_done = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_done = false;
    std::thread m_thread; // last: starts after the members above exist
};

} // namespace test_support
