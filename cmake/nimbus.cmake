# Build helpers shared by every part of the tree.
#
# Kernel code is C++20, freestanding, no exceptions/RTTI, kernel code model, no red zone, frame
# pointers kept (the panic backtrace walks them), no SSE and no floating point.
# Portable libraries are compiled twice: once with these kernel flags (target NAME) and once
# for the host (target NAME_host, sanitized) so that their unit tests run on the build
# machine.

set(NIMBUS_KERNEL_INCLUDE ${PROJECT_SOURCE_DIR}/kernel)

add_library(nimbus_kernel_flags INTERFACE)
target_compile_options(nimbus_kernel_flags INTERFACE
  -ffreestanding -fno-builtin-printf -nostdlib
  -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables -fno-unwind-tables
  -fno-stack-protector -fno-pic -fno-pie
  -mcmodel=kernel -mno-red-zone -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
  -march=x86-64-v2 -mno-avx
  # No SSE or MMX code anywhere in the kernel (and no float or double, which would then become
  # x87 code): the application's extended state survives a system call untouched, and only a
  # thread switch saves it (syscall.S). Not -mgeneral-regs-only: that also removes x87's
  # `long double`, which the standard headers (<atomic>) mention.
  -mno-sse -mno-sse2 -mno-mmx
  -Wall -Wextra -Werror -Wthread-safety -Wno-unused-parameter
  -g -O2 -flto=thin)
target_compile_definitions(nimbus_kernel_flags INTERFACE NIMBUS_KERNEL=1)
target_include_directories(nimbus_kernel_flags INTERFACE ${NIMBUS_KERNEL_INCLUDE})

add_library(nimbus_host_flags INTERFACE)
target_compile_options(nimbus_host_flags INTERFACE
  -Wall -Wextra -Werror -Wthread-safety -Wno-unused-parameter -fno-omit-frame-pointer)
target_compile_definitions(nimbus_host_flags INTERFACE NIMBUS_HOST=1)
target_include_directories(nimbus_host_flags INTERFACE ${NIMBUS_KERNEL_INCLUDE})
if(NIMBUS_SANITIZE)
  target_compile_options(nimbus_host_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
  target_link_options(nimbus_host_flags INTERFACE -fsanitize=address,undefined)
endif()

# Host builds under ThreadSanitizer, for the lock-free code's tests (tests/tsan/).
add_library(nimbus_tsan_flags INTERFACE)
target_compile_options(nimbus_tsan_flags INTERFACE
  -Wall -Wextra -Werror -Wthread-safety -Wno-unused-parameter -fno-omit-frame-pointer
  -fsanitize=thread -O1 -g)
target_link_options(nimbus_tsan_flags INTERFACE -fsanitize=thread)
target_compile_definitions(nimbus_tsan_flags INTERFACE NIMBUS_HOST=1 NIMBUS_TSAN=1)
target_include_directories(nimbus_tsan_flags INTERFACE ${NIMBUS_KERNEL_INCLUDE})

# nimbus_portable_library(NAME SOURCES... [DEPS...] [TSAN]) -> NAME (kernel) and NAME_host
# (host, ASan+UBSan); with TSAN also NAME_tsan (host, ThreadSanitizer; its DEPS need TSAN too).
function(nimbus_portable_library name)
  cmake_parse_arguments(ARG "TSAN" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC nimbus_kernel_flags)
  add_library(${name}_host STATIC ${ARG_SOURCES})
  target_link_libraries(${name}_host PUBLIC nimbus_host_flags)
  # The fuzzers (tests/fuzz) link these: give libFuzzer coverage of the library itself, not
  # only of the fuzz target. The sanitizer runtime linked into the unit tests supplies the
  # coverage callbacks there.
  if(NIMBUS_FUZZ AND NIMBUS_SANITIZE)
    target_compile_options(${name}_host PRIVATE -fsanitize=fuzzer-no-link)
  endif()
  foreach(dep ${ARG_DEPS})
    target_link_libraries(${name} PUBLIC ${dep})
    target_link_libraries(${name}_host PUBLIC ${dep}_host)
  endforeach()
  if(ARG_TSAN)
    add_library(${name}_tsan STATIC ${ARG_SOURCES})
    target_link_libraries(${name}_tsan PUBLIC nimbus_tsan_flags)
    foreach(dep ${ARG_DEPS})
      target_link_libraries(${name}_tsan PUBLIC ${dep}_tsan)
    endforeach()
  endif()
endfunction()

# nimbus_kernel_library(NAME SOURCES...) -> kernel-only code (touches hardware).
function(nimbus_kernel_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC nimbus_kernel_flags ${ARG_DEPS})
endfunction()

# nimbus_gtest_tier(DIR PREFIX LIBSUFFIX LABELS TIMEOUT [ENVIRONMENT env]): each folder
# DIR/<module>/ with *_test.cc files becomes gtest binary <PREFIX>_<module>, linked against
# <module><LIBSUFFIX>, registered with ctest under the given labels.
function(nimbus_gtest_tier dir prefix libsuffix labels timeout)
  cmake_parse_arguments(ARG "" "ENVIRONMENT" "" ${ARGN})
  find_package(GTest REQUIRED)
  file(GLOB modules LIST_DIRECTORIES true CONFIGURE_DEPENDS ${dir}/*)
  foreach(mdir ${modules})
    if(NOT IS_DIRECTORY ${mdir})
      continue()
    endif()
    get_filename_component(module ${mdir} NAME)
    file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${mdir}/*_test.cc)
    if(NOT sources)
      continue()
    endif()
    add_executable(${prefix}_${module} ${sources})
    target_link_libraries(${prefix}_${module} PRIVATE ${module}${libsuffix} GTest::gtest GTest::gtest_main)
    add_test(NAME ${prefix}_${module} COMMAND ${prefix}_${module})
    set_tests_properties(${prefix}_${module} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout})
    if(ARG_ENVIRONMENT)
      set_tests_properties(${prefix}_${module} PROPERTIES ENVIRONMENT "${ARG_ENVIRONMENT}")
    endif()
  endforeach()
endfunction()
