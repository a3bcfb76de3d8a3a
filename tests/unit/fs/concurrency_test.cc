// Multi-threaded fs tests with real threads (ASan build, small counts; tests/tsan/fs runs the
// same scenarios longer under ThreadSanitizer).
#include "concurrency_cases.h"

namespace {

TEST(FsConcurrency, ReadersAndAWriterSeeWholeWrites) { fs_test::readers_and_a_writer(1); }
TEST(FsConcurrency, ReadsOfOneFileRunInParallel) { fs_test::reads_of_one_file_overlap(); }
TEST(FsConcurrency, SharedOffsetsAndAppend) { fs_test::shared_offsets_and_append(1); }
TEST(FsConcurrency, FdTableRaces) { fs_test::fd_table_races(1); }
TEST(FsConcurrency, NamespaceChurn) { fs_test::namespace_churn(1); }
TEST(FsConcurrency, CopiesFaultingOnMappingsOfRamfsFiles) { fs_test::copies_faulting_on_mappings(1); }

} // namespace
