#include "base/token_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "http_testing.h"

namespace lastcall {
namespace {

using testing::TempDir;

std::string Parse(std::string_view text) {
  std::string error;
  const std::optional<std::string> token = ParseToken(text, &error);
  return token ? "token:" + *token : "error:" + error;
}

TEST_CASE("ParseToken strips a byte order mark and surrounding whitespace, nothing else") {
  CHECK(Parse("s3cret") == "token:s3cret");
  CHECK(Parse("s3cret\n") == "token:s3cret");
  CHECK(Parse("  \ts3cret\r\n") == "token:s3cret");
  CHECK(Parse("\xEF\xBB\xBFs3cret\n") == "token:s3cret");
  CHECK(Parse("\xEF\xBB\xBF \n s3cret") == "token:s3cret");
  CHECK(Parse("s3 cret") == "token:s3 cret");  // inner spaces are the token's
  CHECK(Parse("") == "error:is empty");
  CHECK(Parse("\xEF\xBB\xBF \n") == "error:is empty");
  CHECK(Parse("a\nb") == "error:contains control characters (a token is one line of text)");
  CHECK(Parse(std::string(4096, 'a')) == "token:" + std::string(4096, 'a'));
  CHECK(Parse(std::string(4097, 'a')) == "error:longer than 4 KiB; is it the right file?");
}

// The layout Kubernetes gives a mounted secret: token -> ..data/token, ..data -> ..<timestamp>.
struct SecretVolume {
  TempDir dir;
  int version = 0;
  SecretVolume() { REQUIRE(symlink("..data/token", path().c_str()) == 0); }
  std::string path() const { return dir.path() + "/token"; }
  // Writes a new timestamped directory and swaps ..data to it atomically, as the kubelet does.
  void Rotate(const std::string& token) {
    const std::string name = "..v" + std::to_string(++version);
    REQUIRE(mkdir((dir.path() + "/" + name).c_str(), 0755) == 0);
    std::ofstream(dir.path() + "/" + name + "/token") << token << "\n";
    const std::string temp = dir.path() + "/..data_tmp";
    REQUIRE(symlink(name.c_str(), temp.c_str()) == 0);
    REQUIRE(std::rename(temp.c_str(), (dir.path() + "/..data").c_str()) == 0);
  }
  void Remove() { REQUIRE(unlink((dir.path() + "/..data").c_str()) == 0); }
};

TEST_CASE("TokenFile follows a rotated secret and accepts only the current token") {
  SecretVolume secret;
  secret.Rotate("first");
  TokenFile token(secret.path());
  CHECK(token.Current() == "first");
  CHECK(token.Current() == "first");

  secret.Rotate("second");
  CHECK(token.Current() == "second");

  secret.Remove();
  CHECK(!token.Current().has_value());  // gone: no token at all, not the last one seen

  secret.Rotate("third");
  CHECK(token.Current() == "third");
}

TEST_CASE("TokenFile: an invalid or special file means no token") {
  TempDir dir;
  const std::string path = dir.path() + "/token";
  std::ofstream(path) << "ok\n";
  TokenFile token(path);
  CHECK(token.Current() == "ok");
  {
    std::ofstream(path) << "";  // emptied in place (a new size)
  }
  CHECK(!token.Current().has_value());
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  CHECK(!token.Current().has_value());  // refused at once, never blocks
  REQUIRE(unlink(path.c_str()) == 0);
  std::ofstream(path) << "back\n";
  CHECK(token.Current() == "back");
}

}  // namespace
}  // namespace lastcall
