// The kernel's embedded symbol table (.ksyms, generated from the first link pass by
// tools/gen_ksyms.py) and address-to-name lookup for backtraces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace core {

struct SymbolInfo {
    const char* name; // nullptr when the address is not inside a known function
    uint64_t offset;  // from the start of the function
};

SymbolInfo symbolize(uint64_t address);
size_t symbol_count();

} // namespace core
