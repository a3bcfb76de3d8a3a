// Netlink's wire format [netlink(7), RFC 3549 §2.3.2]: the message header, attributes, a
// reader for requests, a bounded writer for answers, and the queue of datagrams a socket's
// answers wait in.
//
// Netlink uses the host's byte order (little-endian here), and its bytes come from
// application memory at any alignment: every field is copied out with mem_copy, never read
// through a cast pointer, and every length is checked against what is left before it is used.
#pragma once

#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace net::netlink {

// NLMSG_ALIGN and NLA_ALIGN: messages and attributes start on 4-byte boundaries.
constexpr size_t align(size_t length) { return (length + 3) & ~size_t(3); }

// struct nlmsghdr [netlink(7)]: length includes the header; `port` is nlmsg_pid, the sending
// socket's port id (0: the kernel).
struct MessageHeader {
    uint32_t length;
    uint16_t type;
    uint16_t flags;
    uint32_t sequence;
    uint32_t port;
};
static_assert(sizeof(MessageHeader) == 16);
constexpr size_t kHeaderLength = sizeof(MessageHeader); // NLMSG_HDRLEN

// nlmsg_type: the control messages (below NLMSG_MIN_TYPE; families' types start there).
constexpr uint16_t kMsgNoop = 1, kMsgError = 2, kMsgDone = 3, kMsgOverrun = 4, kMsgMinType = 0x10;

// nlmsg_flags: the standard ones, those of GET requests, and those of NLMSG_ERROR answers.
constexpr uint16_t kFlagRequest = 0x1, kFlagMulti = 0x2, kFlagAck = 0x4, kFlagEcho = 0x8, kFlagDumpIntr = 0x10,
                   kFlagDumpFiltered = 0x20;
constexpr uint16_t kFlagRoot = 0x100, kFlagMatch = 0x200, kFlagAtomic = 0x400, kFlagDump = kFlagRoot | kFlagMatch;
constexpr uint16_t kFlagCapped = 0x100, kFlagAckTlvs = 0x200;

// struct nlattr (rtnetlink's struct rtattr is the same): length includes the 4-byte header;
// the next attribute starts at align(length).
struct AttributeHeader {
    uint16_t length;
    uint16_t type;
};
static_assert(sizeof(AttributeHeader) == 4);
constexpr size_t kAttributeHeaderLength = sizeof(AttributeHeader);
// The type without NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000).
constexpr uint16_t kAttributeTypeMask = 0x3fff;

// struct nlmsgerr: the error (0 for an acknowledgement, else a negative errno) and the
// request's header; unless capped, the request's payload follows.
constexpr size_t kErrorLength = 4 + kHeaderLength;

// struct sockaddr_nl [netlink(7)]: AF_NETLINK, padding, port id, multicast group mask.
struct SockaddrNl {
    uint16_t family;
    uint16_t pad;
    uint32_t port;
    uint32_t groups;
};
static_assert(sizeof(SockaddrNl) == 12);
constexpr uint16_t kAfNetlink = 16;

// One message of a request datagram. `bytes` (header included) and `payload` point into the
// datagram; payload_length = header.length - kHeaderLength.
struct Message {
    MessageHeader header;
    const uint8_t* bytes;
    const uint8_t* payload;
    size_t payload_length;
};

// Walks the messages of one datagram as Linux's netlink_rcv_skb does: a message shorter than
// its header or longer than what is left ends the walk (the rest is ignored, not an error).
class MessageReader {
public:
    MessageReader(const uint8_t* data, size_t length) : m_data(data), m_length(length) {}
    // The next message; false at the end.
    bool next(Message& out);

private:
    const uint8_t* m_data;
    size_t m_length;
    size_t m_offset = 0;
};

// One attribute: its type (masked) and payload.
struct Attribute {
    uint16_t type;
    const uint8_t* data;
    size_t length;
};

// Walks the attributes of a payload (after the family's fixed header). A length below the
// attribute header or beyond the payload is malformed: next() returns false and malformed()
// says so. Trailing bytes shorter than an attribute header are ignored, as Linux does.
class AttributeReader {
public:
    AttributeReader(const uint8_t* data, size_t length) : m_data(data), m_length(length) {}
    bool next(Attribute& out);
    bool malformed() const { return m_malformed; }

private:
    const uint8_t* m_data;
    size_t m_length;
    size_t m_offset = 0;
    bool m_malformed = false;
};

// Builds one message into a caller's buffer. Nothing is ever written past the capacity: a put
// that does not fit fails, and the writer remembers it (finish() then returns 0). Padding is
// zeroed, so no stale buffer bytes reach the application.
class MessageWriter {
public:
    MessageWriter(uint8_t* buffer, size_t capacity) : m_buffer(buffer), m_capacity(capacity) {}

    // Starts the message with its header (length filled in by finish()).
    bool begin(uint16_t type, uint16_t flags, uint32_t sequence, uint32_t port);
    // Appends raw bytes (a family header), padded to 4.
    bool put(const void* data, size_t length);
    bool put_attribute(uint16_t type, const void* data, size_t length);
    bool put_u8(uint16_t type, uint8_t value) { return put_attribute(type, &value, 1); }
    bool put_u32(uint16_t type, uint32_t value) { return put_attribute(type, &value, 4); }
    // A NUL-terminated string attribute.
    bool put_string(uint16_t type, const char* text);
    // Writes nlmsg_len and returns it; 0 if a put failed. Padding counts, as in Linux's
    // nlmsg_end and nlmsg_append (an error echoing a 17-byte request is 36 + 4 bytes long).
    size_t finish();

    size_t length() const { return m_length; }
    bool failed() const { return m_failed; }

private:
    uint8_t* reserve(size_t length);

    uint8_t* m_buffer;
    size_t m_capacity;
    size_t m_length = 0; // bytes written, padding included
    bool m_failed = false;
};

// A datagram of answers: whole messages, each starting 4-byte aligned.
struct Datagram {
    Datagram* next = nullptr;
    size_t length = 0;
    size_t capacity = 0;
    uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
    const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(this + 1); }
};

// The datagrams a socket's answers wait in (FIFO). Not synchronised: the owner's lock covers
// it. Datagrams are heap-allocated with new (std::nothrow).
class DatagramQueue {
public:
    // How much of a dump one datagram carries: NLMSG_GOODSIZE with 4 KiB pages (a page less
    // struct skb_shared_info), the size of Linux's first dump datagram. Readers that use a
    // page-sized buffer and never look at MSG_TRUNC (Go's syscall.NetlinkRIB) depend on it.
    static constexpr size_t kDumpDatagramSize = 3776;

    DatagramQueue() = default;
    ~DatagramQueue() { clear(); }
    DatagramQueue(const DatagramQueue&) = delete;
    DatagramQueue& operator=(const DatagramQueue&) = delete;

    // Appends a message. Packed, it goes into the last datagram if that one is still open and
    // the message fits within kDumpDatagramSize; otherwise (and always unpacked) it starts a
    // new datagram, which stays open for packing only if `pack`. NOMEM if no memory (nothing
    // changes).
    Result<void> append(const uint8_t* message, size_t length, bool pack);
    // Closes the last datagram to packing (the next dump starts a datagram of its own).
    void seal() { m_open = false; }

    bool is_empty() const { return m_head == nullptr; }
    const Datagram* front() const { return m_head; }
    void pop_front();
    size_t datagram_count() const { return m_count; }
    // The bytes of every datagram queued.
    size_t byte_count() const { return m_bytes; }
    // Moves every datagram of `other` to the end of this queue.
    void splice(DatagramQueue& other);
    void clear();

private:
    Datagram* m_head = nullptr;
    Datagram* m_tail = nullptr;
    size_t m_count = 0;
    size_t m_bytes = 0;
    bool m_open = false; // the tail accepts packed messages
};

} // namespace net::netlink
