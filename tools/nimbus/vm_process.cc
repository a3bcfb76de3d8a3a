// QEMU child-process management for the runner. One poll() loop waits on QEMU's stderr pipe,
// on the stdin relay (the runner's stdin readable, QEMU's stdin pipe writable) and on a
// self-pipe written by the SIGCHLD/SIGINT/SIGTERM handlers, with the --timeout deadline as
// poll's timeout. Nothing in the loop blocks: QEMU stops reading its stdin while the guest
// does not drain its UART, and that must not stall the stderr relay or the timeout.
#include "vm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runner/stdin_relay.h"

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

// Copies the runner's stdin to QEMU's stdin pipe in the relay protocol. Memory is bounded:
// stdin is read only while less than kMaxPending encoded bytes wait for QEMU. The runner's
// stdin stays blocking (it may be shared with other processes): it is read once per poll()
// report, which does not block for pipes, files and character devices.
class StdinRelay {
public:
    // `to_qemu`: the write end of QEMU's stdin pipe, non-blocking.
    explicit StdinRelay(int to_qemu) : m_to_qemu(to_qemu) { relay_encode_start(&m_pending); }
    ~StdinRelay() {
        if (m_to_qemu >= 0) {
            ::close(m_to_qemu);
        }
    }

    // The poll() entries the relay wants now (0, 1 or 2), appended at fds[0..).
    int want(pollfd* fds) {
        int n = 0;
        m_stdin_slot = m_qemu_slot = -1;
        if (!m_stdin_done && m_pending.size() < kMaxPending) {
            m_stdin_slot = n;
            fds[n++] = {STDIN_FILENO, POLLIN, 0};
        }
        if (m_to_qemu >= 0 && !m_pending.empty()) {
            m_qemu_slot = n;
            fds[n++] = {m_to_qemu, POLLOUT, 0};
        }
        return n;
    }

    // Acts on what poll() reported for the entries want() gave.
    void pump(const pollfd* fds) {
        if (m_stdin_slot >= 0 && fds[m_stdin_slot].revents != 0) {
            read_stdin();
        }
        if (m_qemu_slot >= 0 && fds[m_qemu_slot].revents != 0) {
            write_qemu();
        }
    }

private:
    static constexpr size_t kMaxPending = 64 * 1024;

    void read_stdin() {
        char buf[16 * 1024];
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {  // end of input, or an error (a closed or unreadable stdin): the end
            relay_encode_end(&m_pending);
            m_stdin_done = true;
        } else {
            relay_encode(buf, static_cast<size_t>(n), &m_pending);
        }
        write_qemu();
    }

    void write_qemu() {
        while (m_to_qemu >= 0 && m_sent < m_pending.size()) {
            ssize_t n = ::write(m_to_qemu, m_pending.data() + m_sent, m_pending.size() - m_sent);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            if (n < 0) {  // EPIPE: QEMU closed its stdin; nothing more can go
                ::close(m_to_qemu);
                m_to_qemu = -1;
                m_stdin_done = true;
                break;
            }
            m_sent += static_cast<size_t>(n);
        }
        if (m_sent == m_pending.size() || m_to_qemu < 0) {
            m_pending.clear();
            m_sent = 0;
        } else if (m_sent >= kMaxPending / 2) {
            m_pending.erase(0, m_sent);
            m_sent = 0;
        }
    }

    int m_to_qemu;
    std::string m_pending;  // encoded bytes; [m_sent, size) not yet written
    size_t m_sent = 0;
    bool m_stdin_done = false;
    int m_stdin_slot = -1;
    int m_qemu_slot = -1;
};

} // namespace

bool run_qemu(const std::vector<std::string>& argv, bool relay_stdin, double timeout_seconds,
              QemuOutcome* outcome, std::string* error) {
    // A closed stdin must not be mistaken for a pipe created below: put /dev/null there.
    if (::fcntl(STDIN_FILENO, F_GETFD) < 0 && errno == EBADF) {
        int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd > STDIN_FILENO) {
            ::dup2(null_fd, STDIN_FILENO);
            ::close(null_fd);
        }
    }
    int err_pipe[2];
    int exec_pipe[2];  // carries errno from the child if execv fails; closed by a good exec
    int in_pipe[2] = {-1, -1};  // QEMU's stdin, when relaying
    if (::pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(exec_pipe, O_CLOEXEC) != 0 || (relay_stdin && ::pipe2(in_pipe, O_CLOEXEC) != 0)) {
        *error = std::string("pipe: ") + std::strerror(errno);
        return false;
    }
    // The terminal's modes, restored after QEMU (which sets raw mode) even if it was killed.
    termios saved_tty{};
    bool restore_tty = !relay_stdin && ::tcgetattr(STDIN_FILENO, &saved_tty) == 0;
    // Writing to a QEMU that is gone must be an error (EPIPE), not the end of the runner.
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);
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
        ::sigaction(SIGPIPE, &dfl, nullptr);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (relay_stdin) {
            ::dup2(in_pipe[0], STDIN_FILENO);
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
    if (relay_stdin) {
        ::close(in_pipe[0]);
        ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }
    StdinRelay stdin_relay(in_pipe[1]);  // owns the write end (closed when QEMU is gone)
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
        pollfd fds[4] = {{g_wake_pipe[0], POLLIN, 0}, {relay.fd(), POLLIN, 0}};
        int count = relay.open() ? 2 : 1;
        int relay_at = count;
        if (relay_stdin) {
            count += stdin_relay.want(fds + relay_at);
        }
        int wait_ms = -1;
        if (deadline > 0 && !outcome->timed_out) {
            double left = deadline - now_seconds();
            wait_ms = left <= 0 ? 0 : static_cast<int>(left * 1000) + 1;
        }
        int n = ::poll(fds, static_cast<nfds_t>(count), wait_ms);
        if (n > 0 && relay.open() && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            relay.pump();
        }
        if (n > 0 && relay_stdin) {
            stdin_relay.pump(fds + relay_at);
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
    if (restore_tty) {
        ::tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
    }
    outcome->exited = WIFEXITED(wstatus);
    outcome->exit_code = outcome->exited ? WEXITSTATUS(wstatus) : 0;
    outcome->term_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    outcome->forwarded_signal = g_forwarded_signal;
    outcome->qemu_printed_error = relay.saw_error();
    return true;
}

} // namespace runner
