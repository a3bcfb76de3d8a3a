// QEMU child-process management for the runner. One poll() loop waits on QEMU's stderr pipe
// and on a self-pipe written by the SIGCHLD/SIGINT/SIGTERM handlers, with the --timeout
// deadline as poll's timeout.
#include "vm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace runner {

namespace {

volatile sig_atomic_t g_child_pid = 0;
volatile sig_atomic_t g_forwarded_signal = 0;
int g_wake_pipe[2] = {-1, -1};

void on_signal(int sig) {
    int saved = errno;
    if (sig == SIGINT || sig == SIGTERM) {
        g_forwarded_signal = sig;
        if (g_child_pid > 0) {
            ::kill(static_cast<pid_t>(g_child_pid), sig);
        }
    }
    char byte = 0;
    [[maybe_unused]] ssize_t n = ::write(g_wake_pipe[1], &byte, 1);
    errno = saved;
}

double now_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void write_all(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        data += n;
        len -= static_cast<size_t>(n);
    }
}

// Relays QEMU's stderr to ours unchanged and remembers whether it held an error line.
class StderrRelay {
public:
    explicit StderrRelay(int fd) : m_fd(fd) {}
    bool open() const { return m_fd >= 0; }
    int fd() const { return m_fd; }
    bool saw_error() const { return m_saw_error; }

    // Reads what is available; closes the pipe at EOF.
    void pump() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(m_fd, buf, sizeof buf);
            if (n > 0) {
                write_all(STDERR_FILENO, buf, static_cast<size_t>(n));
                scan(std::string_view(buf, static_cast<size_t>(n)));
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            }
            finish();
            return;
        }
    }

private:
    void scan(std::string_view chunk) {
        for (char c : chunk) {
            if (c == '\n') {
                m_saw_error = m_saw_error || is_qemu_error_line(m_line);
                m_line.clear();
            } else if (m_line.size() < 1024) {
                m_line += c;
            }
        }
    }
    void finish() {
        m_saw_error = m_saw_error || is_qemu_error_line(m_line);
        ::close(m_fd);
        m_fd = -1;
    }

    int m_fd;
    bool m_saw_error = false;
    std::string m_line;
};

} // namespace

bool run_qemu(const std::vector<std::string>& argv, double timeout_seconds, QemuOutcome* outcome,
              std::string* error) {
    int err_pipe[2];
    int exec_pipe[2];  // carries errno from the child if execv fails; closed by a good exec
    if (::pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        *error = std::string("pipe: ") + std::strerror(errno);
        return false;
    }
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;  // no SA_RESTART: poll() must wake up
    ::sigaction(SIGCHLD, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    std::vector<char*> cargv;
    for (const auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);

    // Block the signals across fork so the child starts with default handlers installed
    // before it can receive one.
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = ::fork();
    if (pid == 0) {
        struct sigaction dfl{};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        ::sigaction(SIGCHLD, &dfl, nullptr);
        ::sigaction(SIGINT, &dfl, nullptr);
        ::sigaction(SIGTERM, &dfl, nullptr);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            ::dup2(null_fd, STDIN_FILENO);
        }
        ::dup2(err_pipe[1], STDERR_FILENO);
        ::execv(cargv[0], cargv.data());
        int exec_errno = errno;
        write_all(exec_pipe[1], reinterpret_cast<const char*>(&exec_errno), sizeof exec_errno);
        ::_exit(127);
    }
    if (pid < 0) {
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        *error = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    g_child_pid = pid;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::close(err_pipe[1]);
    ::close(exec_pipe[1]);
    int exec_errno = 0;
    ssize_t got;
    do {
        got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (got == sizeof exec_errno) {
        ::waitpid(pid, nullptr, 0);
        g_child_pid = 0;
        ::close(err_pipe[0]);
        *error = "cannot execute " + argv[0] + ": " + std::strerror(exec_errno);
        return false;
    }
    ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
    if (g_forwarded_signal != 0) {
        ::kill(pid, g_forwarded_signal);  // arrived before the child's pid was known
    }

    StderrRelay relay(err_pipe[0]);
    double deadline = timeout_seconds > 0 ? now_seconds() + timeout_seconds : 0;
    bool reaped = false;
    int wstatus = 0;
    while (!reaped) {
        pollfd fds[2] = {{g_wake_pipe[0], POLLIN, 0}, {relay.fd(), POLLIN, 0}};
        int wait_ms = -1;
        if (deadline > 0 && !outcome->timed_out) {
            double left = deadline - now_seconds();
            wait_ms = left <= 0 ? 0 : static_cast<int>(left * 1000) + 1;
        }
        int n = ::poll(fds, relay.open() ? 2 : 1, wait_ms);
        if (n > 0 && relay.open() && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            relay.pump();
        }
        if (n > 0 && (fds[0].revents & POLLIN)) {
            char drain[64];
            while (::read(g_wake_pipe[0], drain, sizeof drain) > 0) {
            }
        }
        pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
        if (r == pid) {
            reaped = true;
            break;
        }
        if (deadline > 0 && !outcome->timed_out && now_seconds() >= deadline) {
            outcome->timed_out = true;
            ::kill(pid, SIGKILL);
        }
    }
    g_child_pid = 0;
    // QEMU is gone; take what is left in its stderr pipe.
    while (relay.open()) {
        relay.pump();
        if (relay.open()) {
            pollfd fd = {relay.fd(), POLLIN, 0};
            if (::poll(&fd, 1, 100) <= 0) {
                break;  // a grandchild keeps the pipe open: stop waiting
            }
        }
    }
    outcome->exited = WIFEXITED(wstatus);
    outcome->exit_code = outcome->exited ? WEXITSTATUS(wstatus) : 0;
    outcome->term_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    outcome->forwarded_signal = g_forwarded_signal;
    outcome->qemu_printed_error = relay.saw_error();
    return true;
}

} // namespace runner
