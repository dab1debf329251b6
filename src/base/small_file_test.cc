#include "base/small_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "http_testing.h"

namespace lastcall {
namespace {

using testing::TempDir;

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST_CASE("ReadSmallFile reads a regular file and names what it refuses") {
  TempDir dir;
  const std::string file = Write(dir, "token", "s3cret\n");
  SmallFile read = ReadSmallFile(file, 4096);
  REQUIRE(read.ok());
  CHECK(read.text == "s3cret\n");
  CHECK(read.identity.size == 7);
  CHECK(read.identity == *StatIdentity(file));
  CHECK(ReadSmallFile(Write(dir, "empty", ""), 16).text.empty());

  SUBCASE("at the limit and past it") {
    CHECK(ReadSmallFile(file, 7).ok());
    const SmallFile big = ReadSmallFile(file, 6);
    CHECK(big.error == SmallFileError::kTooLarge);
    CHECK(big.reason == "larger than 6 bytes; is it the right file?");
    CHECK(ReadSmallFile(Write(dir, "big", std::string(5000, 'x')), 4096).reason ==
          "larger than 4 KiB; is it the right file?");
  }
  SUBCASE("missing") {
    const SmallFile missing = ReadSmallFile(dir.path() + "/nope", 16);
    CHECK(missing.error == SmallFileError::kMissing);
    CHECK(missing.reason == "cannot read: No such file or directory");
    CHECK(!StatIdentity(dir.path() + "/nope"));
  }
  SUBCASE("a directory") {
    const SmallFile directory = ReadSmallFile(dir.path(), 16);
    CHECK(directory.error == SmallFileError::kNotRegular);
    CHECK(directory.reason == "is a directory");
  }
  SUBCASE("a FIFO without a writer: refused at once, never blocks") {
    const std::string fifo = dir.path() + "/fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    const SmallFile read_fifo = ReadSmallFile(fifo, 16);
    CHECK(read_fifo.error == SmallFileError::kNotRegular);
    CHECK(read_fifo.reason == "is a FIFO, not a regular file");
  }
  SUBCASE("a device, directly and through a symlink") {
    CHECK(ReadSmallFile("/dev/zero", 16).reason == "is a character device, not a regular file");
    const std::string link = dir.path() + "/zero";
    REQUIRE(symlink("/dev/zero", link.c_str()) == 0);
    CHECK(ReadSmallFile(link, 16).error == SmallFileError::kNotRegular);
    CHECK(ReadSmallFile(link, 16, Symlinks::kRefuse).error == SmallFileError::kSymlink);
  }
  SUBCASE("symlinks: followed by default, refused on request") {
    const std::string link = dir.path() + "/link";
    REQUIRE(symlink(file.c_str(), link.c_str()) == 0);
    CHECK(ReadSmallFile(link, 16).text == "s3cret\n");
    const SmallFile refused = ReadSmallFile(link, 16, Symlinks::kRefuse);
    CHECK(refused.error == SmallFileError::kSymlink);
    CHECK(refused.reason == "is a symbolic link; refusing to follow it");
  }
}

TEST_CASE("DescribeSize") {
  CHECK(DescribeSize(1 << 20) == "1 MiB");
  CHECK(DescribeSize(65536) == "64 KiB");
  CHECK(DescribeSize(1000) == "1000 bytes");
}

}  // namespace
}  // namespace lastcall
