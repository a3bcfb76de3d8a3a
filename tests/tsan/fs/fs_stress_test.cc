// The fs concurrency scenarios under ThreadSanitizer, with more work per run: data races in
// the reference counts, offsets, fd table, ramfs locking and mount checks show up here.
#include "../../unit/fs/concurrency_cases.h"

namespace {

TEST(FsStress, ReadersAndAWriterSeeWholeWrites) { fs_test::readers_and_a_writer(8); }
TEST(FsStress, ReadsOfOneFileRunInParallel) { fs_test::reads_of_one_file_overlap(); }
TEST(FsStress, SharedOffsetsAndAppend) { fs_test::shared_offsets_and_append(20); }
TEST(FsStress, FdTableRaces) { fs_test::fd_table_races(50); }
TEST(FsStress, NamespaceChurn) { fs_test::namespace_churn(30); }
TEST(FsStress, CopiesFaultingOnMappingsOfRamfsFiles) { fs_test::copies_faulting_on_mappings(4); }

} // namespace
