// Uffd (src/swap/uffd.cc): features, register, copy, EEXIST, move.
#include "swap/uffd.h"

#include <gtest/gtest.h>

#include <cstring>

#include "uzram/page.h"

namespace uzram::swap {
namespace {

TEST(UffdTest, ProbeReportsFeatures) {
  Result<UffdFeatures> f = Uffd::probe();
  if (!f) GTEST_SKIP() << f.status().to_string();
  EXPECT_TRUE(f->event_remove);
  EXPECT_NE(f->to_string().find("remove"), std::string::npos);
}

TEST(UffdTest, CopyInstallsAndReportsPagesAlreadyThere) {
  Result<Uffd> u = Uffd::open(UffdRequest{false, false, false, false});
  if (!u) GTEST_SKIP() << u.status().to_string();
  Result<Mapping> region = os::map_anonymous(8 * kPageSize, true);
  ASSERT_TRUE(region);
  ASSERT_TRUE(u->register_range(region->data(), region->size(), Uffd::kMissing).is_ok());
  alignas(kPageSize) static std::byte src[8 * kPageSize];
  std::memset(src, 0x5a, sizeof src);
  uintptr_t dst = reinterpret_cast<uintptr_t>(region->data());
  UffdProgress p = u->copy(dst + 2 * kPageSize, src, kPageSize);
  EXPECT_TRUE(p.done());
  p = u->copy(dst, src, 8 * kPageSize);
  EXPECT_EQ(p.result, UffdResult::kExists);
  EXPECT_EQ(p.bytes, 2 * kPageSize);
  EXPECT_EQ(region->data()[2 * kPageSize], std::byte{0x5a});
  UffdMessage msgs[4];
  Result<size_t> n = u->read(msgs);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // nothing queued
  EXPECT_TRUE(u->unregister_range(region->data(), region->size()).is_ok());
}

TEST(UffdTest, MoveTakesPagesWithoutCopying) {
  Result<Uffd> u = Uffd::open(UffdRequest{false, true, false, true});
  if (!u || !u->features().move) GTEST_SKIP() << "no UFFDIO_MOVE";
  Result<Mapping> from = os::map_anonymous(4 * kPageSize, true);
  Result<Mapping> to = os::map_anonymous(4 * kPageSize, true);
  ASSERT_TRUE(from && to);
  ASSERT_TRUE(u->register_range(to->data(), to->size(), Uffd::kMissing).is_ok());
  std::memset(from->data(), 0x33, 4 * kPageSize);
  UffdProgress p = u->move(reinterpret_cast<uintptr_t>(to->data()), reinterpret_cast<uintptr_t>(from->data()),
                           4 * kPageSize);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(to->data()[3 * kPageSize + 7], std::byte{0x33});
  EXPECT_EQ(from->data()[0], std::byte{0});  // the source is empty now (reads zeros)
  // Moving again onto full destination pages.
  std::memset(from->data(), 0x44, kPageSize);
  p = u->move(reinterpret_cast<uintptr_t>(to->data()), reinterpret_cast<uintptr_t>(from->data()), kPageSize);
  EXPECT_EQ(p.result, UffdResult::kExists);
}

TEST(UffdTest, WriteProtectNeedsTheFeature) {
  Result<Uffd> u = Uffd::open(UffdRequest{false, false, true, false});
  if (!u || !u->features().write_protect) GTEST_SKIP() << "no write-protect";
  Result<Mapping> region = os::map_anonymous(4 * kPageSize, true);
  ASSERT_TRUE(region);
  ASSERT_TRUE(u->register_range(region->data(), region->size(), Uffd::kMissing | Uffd::kWriteProtect).is_ok());
  alignas(kPageSize) static std::byte src[4 * kPageSize];
  uintptr_t dst = reinterpret_cast<uintptr_t>(region->data());
  ASSERT_TRUE(u->copy(dst, src, 4 * kPageSize).done());
  EXPECT_TRUE(u->write_protect(dst, 4 * kPageSize, true).done());
  EXPECT_TRUE(u->write_protect(dst, 4 * kPageSize, false).done());
  region->data()[0] = std::byte{1};  // writable again: no fault
}

}  // namespace
}  // namespace uzram::swap
