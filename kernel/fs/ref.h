// Intrusive reference counting for fs objects: RefCounted<T> (the count, inside the object)
// and Ref<T> (the owning smart pointer), plus make_ref() for fallible creation.
//
// The count starts at 0 and a Ref taking a raw pointer adds one, so `Ref<T>(this)` is safe
// inside a member function (the object is intrusive: the pointer carries the count). The last
// Ref to go deletes the object through `delete`, so a class used through a base-class Ref
// needs a virtual destructor (Vnode, FileSystem, OpenFile, Device have one).
//
// Memory order. Taking a reference is relaxed: whoever copies a Ref already holds one, so the
// object cannot die meanwhile and nothing is published by the increment. Dropping one is an
// acq_rel RMW: its release half orders every use of the object through that reference before
// the decrement, and the acquire half of the last one (which reads the others' decrements
// through the RMW chain) orders them all before the deletion. (A release decrement plus an
// acquire fence for the last one would do too; ThreadSanitizer does not model fences, and on
// x86 the RMW costs the same either way.)
//
// Thread safety: the count is atomic; a single Ref object is not (two threads must not
// assign the same Ref variable concurrently — the owner of the variable serialises).
#pragma once

#include <lib/result.h>

#include <atomic>
#include <new>
#include <stdint.h>
#include <type_traits>
#include <utility>

namespace fs {

template<typename T>
class RefCounted {
public:
    RefCounted(const RefCounted&) = delete;
    RefCounted& operator=(const RefCounted&) = delete;

    void ref() const
    {
        m_refs.fetch_add(1, std::memory_order_relaxed); // relaxed: see the header comment
    }
    void unref() const
    {
        // acq_rel: pairs with the other droppers' decrements (see the header comment).
        if (m_refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete static_cast<const T*>(this);
    }
    // The number of references right now. Exact only when no other thread can take or drop
    // one (e.g. unmount's busy check, which holds the only ways to reach the object); tests.
    uint32_t ref_count() const
    {
        return m_refs.load(std::memory_order_relaxed); // relaxed: a snapshot, see above
    }

protected:
    RefCounted() = default;
    ~RefCounted() = default;

private:
    mutable std::atomic<uint32_t> m_refs{0};
};

// An owning pointer to a RefCounted object (or null).
template<typename T>
class Ref {
public:
    Ref() = default;
    Ref(decltype(nullptr)) {}
    // Takes a new reference to `p` (which may be null).
    explicit Ref(T* p) : m_ptr(p)
    {
        if (m_ptr)
            m_ptr->ref();
    }
    Ref(const Ref& other) : Ref(other.m_ptr) {}
    Ref(Ref&& other) : m_ptr(other.m_ptr) { other.m_ptr = nullptr; }
    template<typename U, typename = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    Ref(const Ref<U>& other) : Ref(static_cast<T*>(other.get()))
    {
    }
    template<typename U, typename = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    Ref(Ref<U>&& other) : m_ptr(other.leak())
    {
    }
    ~Ref() { reset(); }

    Ref& operator=(const Ref& other)
    {
        Ref copy(other);
        swap(copy);
        return *this;
    }
    Ref& operator=(Ref&& other)
    {
        Ref moved(std::move(other));
        swap(moved);
        return *this;
    }

    void reset()
    {
        T* p = m_ptr;
        m_ptr = nullptr;
        if (p)
            p->unref();
    }
    void swap(Ref& other)
    {
        T* p = m_ptr;
        m_ptr = other.m_ptr;
        other.m_ptr = p;
    }
    // Gives up ownership without dropping the reference; the caller takes it over.
    T* leak()
    {
        T* p = m_ptr;
        m_ptr = nullptr;
        return p;
    }

    T* get() const { return m_ptr; }
    T* operator->() const { return m_ptr; }
    T& operator*() const { return *m_ptr; }
    explicit operator bool() const { return m_ptr != nullptr; }
    bool is_null() const { return m_ptr == nullptr; }

    friend bool operator==(const Ref& a, const Ref& b) { return a.m_ptr == b.m_ptr; }

private:
    T* m_ptr = nullptr;
};

// A Ref to `p` viewed as a derived type U. The caller knows the dynamic type (no RTTI here).
template<typename U, typename T>
Ref<U> static_ref_cast(const Ref<T>& p)
{
    return Ref<U>(static_cast<U*>(p.get()));
}

// Allocates a T (nothrow) and returns the first reference to it; NOMEM if out of memory.
template<typename T, typename... Args>
Result<Ref<T>> make_ref(Args&&... args)
{
    T* p = new (std::nothrow) T(std::forward<Args>(args)...);
    if (!p)
        return Errno::NOMEM;
    return Ref<T>(p);
}

} // namespace fs
