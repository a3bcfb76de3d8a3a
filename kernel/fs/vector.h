// Vector<T>: a small growable array whose growth can fail (NOMEM) instead of throwing, for the
// fs tables (fd table, mount table, device registry). No libstdc++ container is freestanding.
//
// Storage comes from the nothrow operator new (the kernel heap); elements are moved on
// growth, so T must be nothrow-movable (Ref, plain structs). Growth doubles the capacity.
// Not synchronised: the owner's lock protects it.
#pragma once

#include <lib/assert.h>
#include <lib/result.h>

#include <new>
#include <stddef.h>
#include <utility>

namespace fs {

template<typename T>
class Vector {
public:
    Vector() = default;
    Vector(const Vector&) = delete;
    Vector& operator=(const Vector&) = delete;
    ~Vector()
    {
        clear();
        ::operator delete(m_data);
    }

    size_t size() const { return m_size; }
    size_t capacity() const { return m_capacity; }
    bool is_empty() const { return m_size == 0; }

    T& operator[](size_t i)
    {
        NIMBUS_ASSERT(i < m_size);
        return m_data[i];
    }
    const T& operator[](size_t i) const
    {
        NIMBUS_ASSERT(i < m_size);
        return m_data[i];
    }
    T* begin() { return m_data; }
    T* end() { return m_data + m_size; }
    const T* begin() const { return m_data; }
    const T* end() const { return m_data + m_size; }

    // Makes room for `capacity` elements. NOMEM leaves the vector unchanged.
    Result<void> reserve(size_t capacity)
    {
        if (capacity <= m_capacity)
            return {};
        if (capacity > size_t(-1) / sizeof(T))
            return Errno::NOMEM;
        T* data = static_cast<T*>(::operator new(capacity * sizeof(T), std::nothrow));
        if (!data)
            return Errno::NOMEM;
        for (size_t i = 0; i < m_size; i++) {
            new (&data[i]) T(std::move(m_data[i]));
            m_data[i].~T();
        }
        ::operator delete(m_data);
        m_data = data;
        m_capacity = capacity;
        return {};
    }

    // Appends; NOMEM leaves the vector (and `value`) unchanged.
    Result<void> push_back(T&& value)
    {
        TRY(grow_for(m_size + 1));
        new (&m_data[m_size]) T(std::move(value));
        m_size++;
        return {};
    }

    // Grows to `size` default-constructed elements, or shrinks. NOMEM leaves it unchanged.
    Result<void> resize(size_t size)
    {
        if (size > m_size) {
            TRY(grow_for(size));
            for (size_t i = m_size; i < size; i++)
                new (&m_data[i]) T();
        } else {
            for (size_t i = size; i < m_size; i++)
                m_data[i].~T();
        }
        m_size = size;
        return {};
    }

    // Removes element i, moving the later ones down (order is kept).
    void erase_at(size_t i)
    {
        NIMBUS_ASSERT(i < m_size);
        for (size_t j = i; j + 1 < m_size; j++)
            m_data[j] = std::move(m_data[j + 1]);
        m_data[m_size - 1].~T();
        m_size--;
    }

    void clear() { (void)resize(0); }

    // Exchanges contents with `other` (no allocation).
    void swap(Vector& other)
    {
        T* data = m_data;
        size_t size = m_size;
        size_t capacity = m_capacity;
        m_data = other.m_data;
        m_size = other.m_size;
        m_capacity = other.m_capacity;
        other.m_data = data;
        other.m_size = size;
        other.m_capacity = capacity;
    }

private:
    Result<void> grow_for(size_t needed)
    {
        if (needed <= m_capacity)
            return {};
        size_t capacity = m_capacity ? m_capacity * 2 : 8;
        if (capacity < needed)
            capacity = needed;
        return reserve(capacity);
    }

    T* m_data = nullptr;
    size_t m_size = 0;
    size_t m_capacity = 0;
};

} // namespace fs
