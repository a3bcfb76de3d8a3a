// The C library symbols the kernel build needs: clang emits calls to memcpy, memmove, memset
// and memcmp for struct copies and large initialisers even in freestanding code, and a few
// more are expected by convention. Kernel build only; on the host the real libc provides them.
//
// Each forwards to the portable lib:: implementation. This file must stay free of anything
// that could itself be lowered to a call to one of these symbols.
#include <lib/string.h>

extern "C" {

void* memcpy(void* dst, const void* src, size_t size) { return lib::mem_copy(dst, src, size); }

void* memmove(void* dst, const void* src, size_t size) { return lib::mem_move(dst, src, size); }

void* memset(void* dst, int byte, size_t size) { return lib::mem_set(dst, byte, size); }

int memcmp(const void* a, const void* b, size_t size) { return lib::mem_compare(a, b, size); }

size_t strlen(const char* s) { return lib::str_length(s); }

size_t strnlen(const char* s, size_t max_size) { return lib::str_nlength(s, max_size); }

int strcmp(const char* a, const char* b) { return lib::str_compare(a, b); }

int strncmp(const char* a, const char* b, size_t max_size) { return lib::str_ncompare(a, b, max_size); }

// C's strchr takes a const string and returns a mutable pointer into it.
char* strchr(const char* s, int c) { return const_cast<char*>(lib::str_find_char(s, static_cast<char>(c))); }

} // extern "C"
