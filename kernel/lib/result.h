// Result<T>: a value or an Errno. The kernel's only error-propagation mechanism (no
// exceptions); TRY() propagates, MUST() asserts success where failure would be a kernel bug.
#pragma once

#include <lib/assert.h>
#include <lib/errno.h>
#include <new>
#include <type_traits>
#include <utility>

namespace lib {

template<typename T>
class [[nodiscard]] Result {
public:
    Result(const T& value) : m_has_value(true) { new (&m_value) T(value); }
    Result(T&& value) : m_has_value(true) { new (&m_value) T(std::move(value)); }
    Result(Errno error) : m_error(error), m_has_value(false) {}

    Result(const Result& other) : m_has_value(other.m_has_value)
    {
        if (m_has_value)
            new (&m_value) T(other.m_value);
        else
            m_error = other.m_error;
    }
    Result(Result&& other) : m_has_value(other.m_has_value)
    {
        if (m_has_value)
            new (&m_value) T(std::move(other.m_value));
        else
            m_error = other.m_error;
    }
    Result& operator=(const Result& other)
    {
        if (this != &other) {
            this->~Result();
            new (this) Result(other);
        }
        return *this;
    }
    Result& operator=(Result&& other)
    {
        if (this != &other) {
            this->~Result();
            new (this) Result(std::move(other));
        }
        return *this;
    }
    ~Result()
    {
        if (m_has_value)
            m_value.~T();
    }

    bool is_error() const { return !m_has_value; }
    explicit operator bool() const { return m_has_value; }

    Errno error() const
    {
        NIMBUS_ASSERT(!m_has_value);
        return m_error;
    }
    T& value()
    {
        NIMBUS_ASSERT(m_has_value);
        return m_value;
    }
    const T& value() const
    {
        NIMBUS_ASSERT(m_has_value);
        return m_value;
    }
    T release_value()
    {
        NIMBUS_ASSERT(m_has_value);
        return std::move(m_value);
    }
    T value_or(T fallback) const { return m_has_value ? m_value : fallback; }

private:
    union {
        T m_value;
        Errno m_error;
    };
    bool m_has_value;
};

template<>
class [[nodiscard]] Result<void> {
public:
    Result() : m_error(Errno(0)) {}
    Result(Errno error) : m_error(error) {}

    bool is_error() const { return m_error != Errno(0); }
    explicit operator bool() const { return !is_error(); }
    Errno error() const
    {
        NIMBUS_ASSERT(is_error());
        return m_error;
    }
    void release_value() const {}

private:
    Errno m_error;
};

} // namespace lib

using lib::Errno;
using lib::Result;

// TRY(expr): evaluate a Result; on error return the Errno from the enclosing function,
// otherwise yield the value.
#define TRY(expr)                                     \
    ({                                                \
        auto _nimbus_try = (expr);                    \
        if (_nimbus_try.is_error())                   \
            return _nimbus_try.error();               \
        _nimbus_try.release_value();                  \
    })

// MUST(expr): evaluate a Result that cannot fail unless the kernel has a bug.
#define MUST(expr)                                    \
    ({                                                \
        auto _nimbus_must = (expr);                   \
        NIMBUS_ASSERT(!_nimbus_must.is_error());      \
        _nimbus_must.release_value();                 \
    })
