// Clang thread-safety annotations (-Wthread-safety): the compiler checks that guarded data is
// touched only with its lock held and that locks are released on every path.
#pragma once

// Every macro expands to nothing on compilers without the analysis.
#if defined(__clang__)
#define TA_ATTR(x) __attribute__((x))
#else
#define TA_ATTR(x)
#endif

// On a type: instances are capabilities (locks). `name` appears in diagnostics.
#define TA_CAPABILITY(name) TA_ATTR(capability(name))
// On a RAII type whose constructor acquires and destructor releases a capability.
#define TA_SCOPED_CAPABILITY TA_ATTR(scoped_lockable)

// On data: only read or written with the capability held.
#define TA_GUARDED(x) TA_ATTR(guarded_by(x))
// On a pointer: what it points to is only touched with the capability held.
#define TA_PT_GUARDED(x) TA_ATTR(pt_guarded_by(x))

// Lock ordering between capabilities (declared on the capability members).
#define TA_ACQ_BEFORE(...) TA_ATTR(acquired_before(__VA_ARGS__))
#define TA_ACQ_AFTER(...) TA_ATTR(acquired_after(__VA_ARGS__))

// On functions: the caller must hold (TA_REQ) or must not hold (TA_EXCL) the capabilities.
#define TA_REQ(...) TA_ATTR(requires_capability(__VA_ARGS__))
#define TA_REQ_SHARED(...) TA_ATTR(requires_shared_capability(__VA_ARGS__))
#define TA_EXCL(...) TA_ATTR(locks_excluded(__VA_ARGS__))

// On functions: they acquire / release the capabilities (no argument: `this`).
#define TA_ACQUIRE(...) TA_ATTR(acquire_capability(__VA_ARGS__))
#define TA_ACQUIRE_SHARED(...) TA_ATTR(acquire_shared_capability(__VA_ARGS__))
#define TA_RELEASE(...) TA_ATTR(release_capability(__VA_ARGS__))
#define TA_RELEASE_SHARED(...) TA_ATTR(release_shared_capability(__VA_ARGS__))
// Acquires the capabilities iff the function returns `result` (true or false).
#define TA_TRY_ACQUIRE(result, ...) TA_ATTR(try_acquire_capability(result __VA_OPT__(, ) __VA_ARGS__))
#define TA_TRY_ACQUIRE_SHARED(result, ...) \
    TA_ATTR(try_acquire_shared_capability(result __VA_OPT__(, ) __VA_ARGS__))

// On functions: they check at run time that the capability is held (and fail otherwise).
#define TA_ASSERT_CAPABILITY(x) TA_ATTR(assert_capability(x))
// On functions returning a reference to a capability.
#define TA_RETURN_CAPABILITY(x) TA_ATTR(lock_returned(x))

// Turns the analysis off for one function. For the primitives' own implementation and for
// tests that deliberately break the rules; anywhere else, say why.
#define TA_NO_ANALYSIS TA_ATTR(no_thread_safety_analysis)
