// NewReno and CUBIC (see congestion.h).
#include <net/tcp/congestion.h>

namespace net::tcp {

void CongestionControl::start(uint32_t mss)
{
    m_mss = mss;
    uint32_t initial = 14600 > 2 * mss ? 14600 : 2 * mss;
    m_cwnd = 10 * mss < initial ? 10 * mss : initial;
    m_ssthresh = 0xffffffffu;
}

namespace {

uint32_t loss_threshold(uint32_t flight, uint32_t mss)
{
    uint32_t half = flight / 2;
    return half > 2 * mss ? half : 2 * mss;
}

uint32_t clamp_window(uint64_t w)
{
    return w > 0x3fffffffu ? 0x3fffffffu : static_cast<uint32_t>(w);
}

} // namespace

uint64_t integer_cbrt(uint64_t x)
{
    uint64_t low = 0;
    uint64_t high = 2642245; // cbrt(2^64 − 1) < 2642246, and 2642246³ would overflow
    while (low < high) {
        uint64_t mid = (low + high + 1) / 2;
        if (mid * mid * mid <= x)
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}

void NewReno::on_ack(uint32_t acked, Instant, Duration)
{
    if (in_slow_start()) {
        uint32_t grow = acked < 2 * m_mss ? acked : 2 * m_mss;
        m_cwnd = clamp_window(uint64_t(m_cwnd) + grow);
        return;
    }
    // Byte counting: one MSS for every cwnd bytes acknowledged [rfc5681 §3.1, rfc3465].
    m_avoidance_bytes += acked;
    if (m_avoidance_bytes >= m_cwnd) {
        m_avoidance_bytes -= m_cwnd;
        m_cwnd = clamp_window(uint64_t(m_cwnd) + m_mss);
    }
}

void NewReno::on_fast_loss(uint32_t flight, Instant)
{
    m_ssthresh = loss_threshold(flight, m_mss);
    m_cwnd = m_ssthresh;
    m_avoidance_bytes = 0;
}

void NewReno::on_timeout(uint32_t flight, Instant)
{
    m_ssthresh = loss_threshold(flight, m_mss);
    m_cwnd = m_mss;
    m_avoidance_bytes = 0;
}

// C = 0.4 = 4/10; β = 0.7 = 7/10. W(t) = C·(t − K)³ in segments with t in seconds becomes,
// in bytes with t in milliseconds: 4·d³·MSS / 10^10.
uint64_t Cubic::window_at(int64_t t_ms) const
{
    int64_t d = t_ms - static_cast<int64_t>(m_k_ms);
    if (d > 200000)
        d = 200000; // 200 s past K: far beyond any useful window; keeps d³ in range
    if (d < -200000)
        d = -200000;
    int64_t cube = d * d * d; // |cube| <= 8·10^15
    int64_t milli_segments = cube * 4 / 10000000;
    int64_t w = static_cast<int64_t>(m_w_max) + milli_segments * static_cast<int64_t>(m_mss) / 1000;
    return w < static_cast<int64_t>(m_mss) ? m_mss : static_cast<uint64_t>(w);
}

void Cubic::on_ack(uint32_t acked, Instant now, Duration rtt)
{
    if (in_slow_start()) {
        uint32_t grow = acked < 2 * m_mss ? acked : 2 * m_mss;
        m_cwnd = clamp_window(uint64_t(m_cwnd) + grow);
        return;
    }
    if (!m_epoch_valid) {
        // A new congestion-avoidance epoch [rfc9438 §4.2]: K is the time to grow from the
        // current window back to W_max.
        m_epoch_valid = true;
        m_epoch_start = now;
        m_w_est = m_cwnd;
        if (m_cwnd < m_w_max) {
            uint64_t gap = m_w_max - m_cwnd;
            m_k_ms = integer_cbrt(gap * 2500000000ull / m_mss);
        } else {
            m_k_ms = 0;
            m_w_max = m_cwnd;
        }
    }
    int64_t t_ms = static_cast<int64_t>((now - m_epoch_start + rtt) / kMillisecond);
    uint64_t target = window_at(t_ms);
    // The Reno-friendly estimate grows by α = 3(1−β)/(1+β) ≈ 0.529 MSS a window [§4.3].
    m_w_est += uint64_t(acked) * m_mss * 529 / 1000 / (m_cwnd ? m_cwnd : 1);
    if (target < m_w_est) {
        m_cwnd = clamp_window(m_w_est);
        return;
    }
    // Concave/convex regions [§4.4-4.5]: grow by (target − cwnd)/cwnd per acked MSS, with the
    // target at most 1.5·cwnd.
    uint64_t limit = uint64_t(m_cwnd) * 3 / 2;
    if (target > limit)
        target = limit;
    if (target <= m_cwnd) {
        // Near the plateau: still grow, slowly (one MSS per 100 windows), as §4.4 allows.
        m_avoidance_bytes += acked;
        if (m_avoidance_bytes >= 100ull * m_cwnd) {
            m_avoidance_bytes = 0;
            m_cwnd = clamp_window(uint64_t(m_cwnd) + m_mss);
        }
        return;
    }
    uint64_t grow = (target - m_cwnd) * acked / m_cwnd;
    if (grow == 0) {
        m_avoidance_bytes += acked;
        if (uint64_t(m_avoidance_bytes) * (target - m_cwnd) >= uint64_t(m_cwnd) * m_mss) {
            m_avoidance_bytes = 0;
            grow = m_mss;
        }
    }
    m_cwnd = clamp_window(uint64_t(m_cwnd) + grow);
}

void Cubic::reduce(Instant)
{
    // Fast convergence [§4.7]: a flow that lost before reaching its previous W_max gives up
    // more room to newcomers.
    if (m_cwnd < m_w_max)
        m_w_max = static_cast<uint32_t>(uint64_t(m_cwnd) * 17 / 20); // (1 + β)/2 = 0.85
    else
        m_w_max = m_cwnd;
    uint32_t reduced = static_cast<uint32_t>(uint64_t(m_cwnd) * 7 / 10);
    m_ssthresh = reduced > 2 * m_mss ? reduced : 2 * m_mss;
    m_epoch_valid = false;
    m_avoidance_bytes = 0;
}

void Cubic::on_fast_loss(uint32_t, Instant now)
{
    reduce(now);
    m_cwnd = m_ssthresh;
}

void Cubic::on_timeout(uint32_t, Instant now)
{
    reduce(now);
    m_cwnd = m_mss;
}

} // namespace net::tcp
