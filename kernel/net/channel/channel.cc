// A flow's net channel (channel.h).
#include <net/channel/channel.h>
#include <new>

namespace net {

Channel::~Channel()
{
    PacketBuffer* buffer;
    while (m_ring.pop(buffer))
        (void)Packet(buffer);
}

Result<Channel*> Channel::open(FlowTable& table, const FlowKey& key, void* owner, ChannelListener* listener,
                               RetireFn retire, void* context)
{
    auto* channel = new (std::nothrow) Channel(retire, context);
    if (channel == nullptr)
        return Errno::NOMEM;
    channel->m_flow.key = key;
    if (Result<void> linked = table.insert(channel->m_flow); linked.is_error()) {
        delete channel; // never visible to a receive thread
        return linked.error();
    }
    channel->m_owner = owner;
    channel->set_listener(listener);
    return channel;
}

void Channel::close(FlowTable& table)
{
    table.remove(m_flow);
    set_accepting(false);
    set_listener(nullptr);
    m_owner = nullptr;
    while (Packet dropped = pop())
        (void)dropped;
    unref();
}

bool Channel::try_ref()
{
    uint32_t refs = m_refs.load(std::memory_order_relaxed);
    do {
        if (refs == 0)
            return false; // retiring: the last reference is gone
    } while (!m_refs.compare_exchange_weak(refs, refs + 1, std::memory_order_relaxed));
    return true;
}

void Channel::unref()
{
    // acq_rel: everything done under a reference happens before the retirement.
    if (m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        m_retire(this, m_retire_context);
}

PushResult Channel::push(Packet& packet, const void* producer, bool& was_empty)
{
    if (!accepting())
        return PushResult::Closed;
    const void* owner = m_producer.load(std::memory_order_relaxed);
    if (owner != producer) {
        if (owner != nullptr)
            return PushResult::OtherProducer;
        if (!m_producer.compare_exchange_strong(owner, producer, std::memory_order_relaxed) && owner != producer)
            return PushResult::OtherProducer;
    }
    was_empty = m_ring.is_empty();
    if (!m_ring.push(packet.m_buffer))
        return PushResult::Full;
    packet.m_buffer = nullptr;
    return PushResult::Queued;
}

void Channel::notify()
{
    ksync::MutexGuard guard(m_listener_lock);
    if (m_listener)
        m_listener->packets_queued();
}

Packet Channel::pop()
{
    PacketBuffer* buffer;
    if (!m_ring.pop(buffer))
        return Packet();
    return Packet(buffer);
}

void Channel::set_listener(ChannelListener* listener)
{
    ksync::MutexGuard guard(m_listener_lock);
    m_listener = listener;
}

void retire_channel_now(Channel* channel, void*)
{
    delete channel;
}

Channel* offer_to_channel(Channel& channel, Packet& frame, const Ipv4Header& ip, size_t transport_offset,
                          Interface& from, const ReceiveBurst& burst, bool ordinary, bool& was_empty,
                          ChannelStats& stats)
{
    if (ordinary || channel.is_diverted(burst.number) || !channel.try_ref()) {
        channel.divert(burst.number);
        stats.diverted.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    size_t link_header = transport_offset - ip.header_length;
    frame.trim(link_header + ip.total_length); // link padding
    frame.meta() = PacketMeta{ .interface = &from, .checksum_verified = frame.meta().checksum_verified };
    frame.pull(link_header);
    frame.mark_network_header();
    frame.pull(ip.header_length);
    frame.mark_transport_header();
    PushResult pushed = channel.push(frame, burst.producer, was_empty);
    if (pushed == PushResult::Queued) {
        stats.queued.fetch_add(1, std::memory_order_relaxed);
        return &channel;
    }
    frame.push(transport_offset); // back to the frame it was
    if (pushed == PushResult::Full) {
        stats.full.fetch_add(1, std::memory_order_relaxed);
    } else {
        stats.diverted.fetch_add(1, std::memory_order_relaxed);
        if (pushed == PushResult::OtherProducer)
            stats.other_queue.fetch_add(1, std::memory_order_relaxed);
    }
    channel.divert(burst.number);
    channel.unref();
    return nullptr;
}

} // namespace net
