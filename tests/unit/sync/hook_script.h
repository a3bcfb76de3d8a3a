// Test scaffolding: scripts threads through ksync::Mutex's slow paths with the host event hook
// (ksync::test_hooks) — per-thread event logs and actions that stall a thread at a chosen step.
#pragma once

#include "../../support/watchdog.h"

#include <sync/mutex.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <mutex>
#include <vector>

namespace sync_test {

// A one-shot rendezvous: one thread reports reaching a point (and may wait there until
// released), another waits for that report or releases it. Host scaffolding, std primitives.
class Gate {
public:
    void reach()
    {
        std::lock_guard<std::mutex> guard(m_lock);
        m_reached = true;
        m_cv.notify_all();
    }
    void reach_and_wait()
    {
        std::unique_lock<std::mutex> guard(m_lock);
        m_reached = true;
        m_cv.notify_all();
        m_cv.wait(guard, [&] { return m_open; });
    }
    void wait_reached()
    {
        std::unique_lock<std::mutex> guard(m_lock);
        m_cv.wait(guard, [&] { return m_reached; });
    }
    void open()
    {
        std::lock_guard<std::mutex> guard(m_lock);
        m_open = true;
        m_cv.notify_all();
    }

private:
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_reached = false;
    bool m_open = false;
};

// Aborts with a message if a test hangs (tests/support/watchdog.h).
using Watchdog = test_support::Watchdog;

// Per-thread: the events this thread reported for the watched mutex, and what to do at each.
inline thread_local std::vector<ksync::MutexEvent>* t_log = nullptr;
inline thread_local std::function<void(ksync::MutexEvent)>* t_action = nullptr;
inline const ksync::Mutex* g_watched = nullptr;

inline void script_hook(const ksync::Mutex* mutex, ksync::MutexEvent event)
{
    if (mutex != g_watched)
        return;
    if (t_log != nullptr)
        t_log->push_back(event);
    if (t_action != nullptr)
        (*t_action)(event);
}

// Installs the hook for one mutex for the test's duration (set before threads start).
class ScopedScript {
public:
    explicit ScopedScript(const ksync::Mutex& mutex)
    {
        g_watched = &mutex;
        ksync::test_hooks::set_mutex_hook(script_hook);
    }
    ~ScopedScript()
    {
        ksync::test_hooks::set_mutex_hook(nullptr);
        g_watched = nullptr;
    }
};

// Sets the mutexes' starvation bound for the scope (test_hooks::set_starvation_ns), so that
// a scripted waiter starves — or never does — regardless of how slowly the test runs.
class ScopedStarvationBound {
public:
    explicit ScopedStarvationBound(uint64_t ns) { ksync::test_hooks::set_starvation_ns(ns); }
    ~ScopedStarvationBound() { ksync::test_hooks::set_starvation_ns(ksync::Mutex::kStarvationNs); }
};

// Sets this thread's log and action for its lifetime.
class ThreadScript {
public:
    explicit ThreadScript(std::vector<ksync::MutexEvent>* log,
                          std::function<void(ksync::MutexEvent)> action = {})
        : m_action(std::move(action))
    {
        t_log = log;
        t_action = m_action ? &m_action : nullptr;
    }
    ~ThreadScript()
    {
        t_log = nullptr;
        t_action = nullptr;
    }

private:
    std::function<void(ksync::MutexEvent)> m_action;
};

} // namespace sync_test
