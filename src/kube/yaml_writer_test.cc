#include "yaml_writer.h"

#include <doctest/doctest.h>

namespace lastcall {
namespace {

TEST_CASE("NeedsQuotes: text a YAML parser would not read as a string") {
  for (const char* text : {"",
                           "~",
                           "null",
                           "NULL",
                           "true",
                           "False",
                           "yes",
                           "No",
                           "on",
                           "OFF",
                           "y",
                           "n",
                           "8080",
                           "-1",
                           "+3",
                           "0.5",
                           ".5",
                           "1e3",
                           "1_000",
                           "0x1F",
                           "0o17",
                           "0b101",
                           ".inf",
                           "-.Inf",
                           ".NaN",
                           "12:30",
                           "1:20:30.5",
                           "2024-01-02",
                           "2024-1-2T10:00:00Z",
                           "<<",
                           "="}) {
    CAPTURE(text);
    CHECK(NeedsQuotes(text));
  }
  for (const char* text : {"app",      "5s",
                           "250ms",    "v1",
                           "1.2.3",    "0.1.0-rc1",
                           "10m",      "8Mi",
                           "-",        "+",
                           ".",        "--lb-delay",
                           "Always",   "ghcr.io/lastcall/lastcall:0.1.0",
                           "/readyz",  "a: b",
                           "nullable", "yesterday",
                           "1h30m",    "12:3x"}) {
    CAPTURE(text);
    CHECK_FALSE(NeedsQuotes(text));
  }
}

TEST_CASE("StringNode tags only the strings that need quotes") {
  CHECK(StringNode("app").Tag() != "!");
  CHECK(StringNode("true").Tag() == "!");
  CHECK(WriteYaml(StringNode("8080")) == "\"8080\"\n");
  CHECK(WriteYaml(StringNode("app")) == "app\n");
}

TEST_CASE("WriteYaml keeps strings strings, key order, and block layout") {
  const std::string input =
      "kind: ConfigMap\n"
      "data:\n"
      "  port: \"8080\"\n"
      "  enabled: 'true'\n"
      "  count: 3\n"
      "  flag: yes\n"
      "  script: |\n"
      "    #!/bin/sh\n"
      "    echo hi\n"
      "  nolf: \"a\\nb\"\n"
      "  empty: \"\"\n"
      "  nothing: null\n"
      "  tilde: ~\n"
      "  list: []\n"
      "  map: {}\n"
      "  colon: \"a: b\"\n"
      "  typed: !!str 12\n"
      "items:\n"
      "- name: a\n"
      "  args: [\"--x\", \"1\"]\n";
  const std::string expected =
      "kind: ConfigMap\n"
      "data:\n"
      "  port: \"8080\"\n"
      "  enabled: \"true\"\n"
      "  count: 3\n"
      "  flag: yes\n"
      "  script: |\n"
      "    #!/bin/sh\n"
      "    echo hi\n"
      "  nolf: \"a\\nb\"\n"
      "  empty: \"\"\n"
      "  nothing: null\n"
      "  tilde: null\n"
      "  list: []\n"
      "  map: {}\n"
      "  colon: \"a: b\"\n"
      "  typed: \"12\"\n"
      "items:\n"
      "  - name: a\n"
      "    args:\n"
      "      - --x\n"
      "      - \"1\"\n";
  const YAML::Node node = YAML::Load(input);
  const std::string written = WriteYaml(node);
  CHECK(written == expected);
  CHECK(SameYaml(YAML::Load(written), node));
  // A fixed point: writing what was written changes nothing.
  CHECK(WriteYaml(YAML::Load(written)) == written);
}

TEST_CASE("a literal block reads back exactly wherever it stands") {
  for (const char* input : {"last: |\n  x\n  y\n", "- |\n  x\n   indented\n- 1\n",
                            "a:\n  b: |\n    tail \n    z\nc: 1\n"}) {
    CAPTURE(input);
    const YAML::Node node = YAML::Load(input);
    const std::string written = WriteYaml(node);
    CHECK(written.find('|') != std::string::npos);
    CHECK(SameYaml(YAML::Load(written), node));
  }
}

TEST_CASE("SameYaml compares structure, text and string-ness") {
  CHECK(SameYaml(YAML::Load("{a: 1, b: [x]}"), YAML::Load("a: 1\nb:\n- x\n")));
  CHECK_FALSE(SameYaml(YAML::Load("{a: 1}"), YAML::Load("{a: \"1\"}")));
  CHECK_FALSE(SameYaml(YAML::Load("{a: 1, b: 2}"), YAML::Load("{b: 2, a: 1}")));
  CHECK_FALSE(SameYaml(YAML::Load("[a]"), YAML::Load("[a, b]")));
  CHECK(SameYaml(YAML::Load("{a: x}"), YAML::Load("{a: \"x\"}")));
  CHECK(WriteYaml(YAML::Load("{\"a\": \"x\", \"b\": \"1.0\"}")) ==
        "a: x\nb: \"1.0\"\n");  // JSON in
  CHECK(SameYaml(YAML::Load("{a: ~}"), YAML::Load("{a: null}")));
}

}  // namespace
}  // namespace lastcall
