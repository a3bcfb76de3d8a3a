// Threads under Nimbus: std::thread, mutexes and condition variables (futexes underneath),
// exceptions thrown in one thread and rethrown in another, thread_local, iostream, and a
// pthread stress of mutexes, barriers and rwlocks. Prints "threads: ok" and exits 0.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

thread_local int tls_value = 7;

int fail(const std::string& what)
{
    std::cout << "threads: FAIL " << what << std::endl;
    return 1;
}

struct Stress {
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
    pthread_barrier_t barrier;
    long counter = 0;
    long shared = 0;
};

void* stress_worker(void* arg)
{
    auto* s = static_cast<Stress*>(arg);
    for (int round = 0; round < 20; ++round) {
        pthread_barrier_wait(&s->barrier);
        for (int i = 0; i < 200; ++i) {
            pthread_mutex_lock(&s->mutex);
            ++s->counter;
            pthread_mutex_unlock(&s->mutex);
        }
        pthread_rwlock_wrlock(&s->rwlock);
        ++s->shared;
        pthread_rwlock_unlock(&s->rwlock);
        pthread_rwlock_rdlock(&s->rwlock);
        volatile long seen = s->shared;
        (void)seen;
        pthread_rwlock_unlock(&s->rwlock);
    }
    return nullptr;
}

long futex(std::atomic<int>& word, int op, int value)
{
    return syscall(SYS_futex, reinterpret_cast<int*>(&word), op, value, nullptr, nullptr, 0);
}

// A FUTEX_WAKE whose waker does not wait afterwards. Nimbus may hold such a wake-up back for a
// direct hand-off to the waker's next wait (core::unpark_thread_for_handoff); it must still
// reach the woken thread while the waker spins in application code without a system call
// (`other_syscall` false: the preemption timer's bound) or makes another system call (true).
// On one CPU a held-back wake-up that was never committed would spin here forever.
bool wake_without_waiting(bool other_syscall)
{
    constexpr int kRounds = 100;
    std::atomic<int> word { 0 };
    std::atomic<int> ack { 0 };
    std::thread sleeper([&] {
        for (int i = 1; i <= kRounds; ++i) {
            while (word.load() != i)
                futex(word, FUTEX_WAIT_PRIVATE, i - 1);
            ack.store(i);
        }
    });
    for (int i = 1; i <= kRounds; ++i) {
        // Let the sleeper block first (a wake without a waiter holds nothing back).
        for (int k = 0; k < 3; ++k)
            sched_yield();
        word.store(i);
        futex(word, FUTEX_WAKE_PRIVATE, 1);
        if (other_syscall)
            syscall(SYS_getppid);
        while (ack.load() != i) {
        }
    }
    sleeper.join();
    return ack.load() == kRounds;
}

} // namespace

int main()
{
    constexpr int kThreads = 4;

    // thread_local: each thread its own copy.
    std::atomic<int> tls_ok { 0 };
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i)
            threads.emplace_back([i, &tls_ok] {
                tls_value += i;
                if (tls_value == 7 + i)
                    ++tls_ok;
            });
        for (auto& t : threads)
            t.join();
    }
    if (tls_ok != kThreads || tls_value != 7)
        return fail("thread_local");

    // A producer/consumer queue on a mutex and a condition variable.
    std::mutex m;
    std::condition_variable cv;
    std::vector<int> queue;
    bool done = false;
    long sum = 0;
    std::thread consumer([&] {
        std::unique_lock<std::mutex> lock(m);
        for (;;) {
            cv.wait(lock, [&] { return !queue.empty() || done; });
            while (!queue.empty()) {
                sum += queue.back();
                queue.pop_back();
            }
            if (done)
                return;
        }
    });
    for (int i = 1; i <= 1000; ++i) {
        std::lock_guard<std::mutex> lock(m);
        queue.push_back(i);
        cv.notify_one();
    }
    {
        std::lock_guard<std::mutex> lock(m);
        done = true;
    }
    cv.notify_one();
    consumer.join();
    if (sum != 500500)
        return fail("condition variable sum " + std::to_string(sum));

    // An exception crosses threads through an exception_ptr.
    std::exception_ptr error;
    std::thread thrower([&] {
        try {
            throw std::runtime_error("from a thread");
        } catch (...) {
            error = std::current_exception();
        }
    });
    thrower.join();
    try {
        if (error)
            std::rethrow_exception(error);
        return fail("no exception");
    } catch (const std::runtime_error& e) {
        if (std::string(e.what()) != "from a thread")
            return fail("exception text");
    }

    // pthread stress: mutex, barrier, rwlock.
    Stress s;
    pthread_barrier_init(&s.barrier, nullptr, kThreads);
    pthread_t workers[kThreads];
    for (auto& w : workers)
        if (pthread_create(&w, nullptr, stress_worker, &s) != 0)
            return fail("pthread_create");
    for (auto& w : workers)
        pthread_join(w, nullptr);
    if (s.counter != kThreads * 20 * 200 || s.shared != kThreads * 20)
        return fail("stress counts");

    // Futex wakes whose waker runs on (see wake_without_waiting).
    if (!wake_without_waiting(false))
        return fail("futex wake, waker spinning");
    if (!wake_without_waiting(true))
        return fail("futex wake, waker in another system call");

    std::cout << "threads: ok (" << std::thread::hardware_concurrency() << " cpus)" << std::endl;
    return 0;
}
