// Congestion control behind a small interface [rfc5681]: the connection reports acknowledged
// bytes, loss detected by duplicate ACKs and retransmission timeouts; the algorithm owns cwnd
// and ssthresh. Fast retransmit and NewReno's recovery bookkeeping (recover, partial ACKs,
// window inflation [rfc6582]) stay in the connection and are shared by every algorithm.
// Integer arithmetic only (no floating point in kernel code).
#pragma once

#include <net/tcp/seq.h>
#include <stdint.h>

namespace net::tcp {

enum class CongestionAlgorithm { NewReno, Cubic };

class CongestionControl {
public:
    // Starts with the initial window [rfc6928 §2]: min(10·MSS, max(2·MSS, 14600)).
    void start(uint32_t mss);
    uint32_t cwnd() const { return m_cwnd; }
    uint32_t ssthresh() const { return m_ssthresh; }
    uint32_t mss() const { return m_mss; }
    bool in_slow_start() const { return m_cwnd < m_ssthresh; }

    // `acked` new bytes were acknowledged outside loss recovery; `rtt` is the smoothed RTT.
    virtual void on_ack(uint32_t acked, Instant now, Duration rtt) = 0;
    // Loss detected by duplicate ACKs (entering fast recovery): sets ssthresh; the connection
    // then sets cwnd = ssthresh + 3·MSS itself [rfc6582 §3.2 step 2].
    virtual void on_fast_loss(uint32_t flight, Instant now) = 0;
    // Retransmission timeout [rfc5681 §3.1 eq. 4]: ssthresh from the flight, cwnd = 1 MSS.
    virtual void on_timeout(uint32_t flight, Instant now) = 0;

    // Used by the connection during fast recovery (inflation/deflation) and at its end.
    void set_cwnd(uint32_t cwnd) { m_cwnd = cwnd < m_mss ? m_mss : cwnd; }

protected:
    ~CongestionControl() = default;
    uint32_t m_cwnd = 0;
    uint32_t m_ssthresh = 0xffffffffu;
    uint32_t m_mss = 536;
};

// Reno/NewReno [rfc5681 §3.1]: slow start by acked bytes (at most 2·MSS an ACK, rfc3465),
// congestion avoidance by one MSS a window, ssthresh = max(flight/2, 2·MSS).
class NewReno final : public CongestionControl {
public:
    void on_ack(uint32_t acked, Instant now, Duration rtt) override;
    void on_fast_loss(uint32_t flight, Instant now) override;
    void on_timeout(uint32_t flight, Instant now) override;

private:
    uint32_t m_avoidance_bytes = 0; // acked bytes counted towards the next MSS of growth
};

// CUBIC [rfc9438]: window growth is a cubic function of the time since the last loss,
// W(t) = C·(t − K)³ + W_max with C = 0.4 and β = 0.7, with fast convergence (§4.7) and the
// Reno-friendly region (§4.3). Times are kept in milliseconds, windows in bytes.
class Cubic final : public CongestionControl {
public:
    void on_ack(uint32_t acked, Instant now, Duration rtt) override;
    void on_fast_loss(uint32_t flight, Instant now) override;
    void on_timeout(uint32_t flight, Instant now) override;

    uint32_t w_max() const { return m_w_max; }
    // W_cubic(t) in bytes for `t_ms` milliseconds into the current epoch (for tests).
    uint64_t window_at(int64_t t_ms) const;

private:
    void reduce(Instant now);

    uint32_t m_w_max = 0;      // window before the last reduction, bytes
    uint64_t m_w_est = 0;      // the Reno-friendly estimate, bytes
    uint64_t m_k_ms = 0;       // time to reach W_max again
    Instant m_epoch_start = 0; // 0: no epoch (starts on the next ACK in avoidance)
    bool m_epoch_valid = false;
    uint32_t m_avoidance_bytes = 0;
};

// The integer cube root (largest r with r³ <= x).
uint64_t integer_cbrt(uint64_t x);

} // namespace net::tcp
