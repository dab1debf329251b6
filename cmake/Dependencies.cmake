# One INTERFACE target that carries every third-party dependency of lastcall_core.
#
# fmt: the static binary (LASTCALL_STATIC) uses it header-only, as Debian ships it as a shared
# library only and that binary must not need any .so at run time. Every other build (tests,
# sanitizers, fuzzers) links Debian's compiled library: header-only, each file that formats
# compiles and optimises fmt's implementation again, which doubled the compile time of such a
# file (coordinator.cc, measured with spdlog beside it: 9.0 s header-only, 4.5 s linked).
# yaml-cpp ships a .a.
# RE2 (the prometheus monitor's label regexes) comes through pkg-config; Debian 12's libre2-dev
# ships libre2.a and, at that version, needs no abseil.
option(LASTCALL_HEADER_ONLY_FMT "Use fmt header-only (always for the static binary)"
  ${LASTCALL_STATIC})
add_library(lastcall_deps INTERFACE)
if(LASTCALL_HEADER_ONLY_FMT OR LASTCALL_STATIC)
  target_compile_definitions(lastcall_deps INTERFACE FMT_HEADER_ONLY)
  get_target_property(_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  target_include_directories(lastcall_deps SYSTEM INTERFACE ${_fmt_inc})
else()
  target_link_libraries(lastcall_deps INTERFACE fmt::fmt)
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
if(LASTCALL_STATIC)
  find_library(RE2_STATIC NAMES libre2.a HINTS ${RE2_LIBRARY_DIRS} REQUIRED)
  target_link_libraries(lastcall_deps INTERFACE ${RE2_STATIC})
  target_include_directories(lastcall_deps SYSTEM INTERFACE ${RE2_INCLUDE_DIRS})
else()
  # The library and its headers, not PkgConfig::RE2: re2.pc's Cflags add -pthread (nothing a
  # glibc >= 2.34 build needs), and a compile line that differs from the static build's would
  # keep the shipped-flags preset's objects from being the static build's (ccache).
  target_link_libraries(lastcall_deps INTERFACE ${RE2_LINK_LIBRARIES})
  target_include_directories(lastcall_deps SYSTEM INTERFACE ${RE2_INCLUDE_DIRS})
endif()
if(LASTCALL_STATIC)
  find_library(YAML_CPP_STATIC NAMES libyaml-cpp.a REQUIRED)
  target_link_libraries(lastcall_deps INTERFACE ${YAML_CPP_STATIC})
  get_target_property(_yaml_inc yaml-cpp INTERFACE_INCLUDE_DIRECTORIES)
  if(_yaml_inc)
    target_include_directories(lastcall_deps SYSTEM INTERFACE ${_yaml_inc})
  endif()
else()
  target_link_libraries(lastcall_deps INTERFACE yaml-cpp)
endif()
# BearSSL (src/tls; docs/architecture.md, "TLS: BearSSL"): Debian ships a .a and a .so, no
# pkg-config file and no CMake package.
find_path(BEARSSL_INCLUDE_DIR bearssl.h REQUIRED)
if(LASTCALL_STATIC)
  find_library(BEARSSL_LIBRARY NAMES libbearssl.a REQUIRED)
else()
  find_library(BEARSSL_LIBRARY NAMES bearssl REQUIRED)
endif()
target_include_directories(lastcall_deps SYSTEM INTERFACE ${BEARSSL_INCLUDE_DIR})
target_link_libraries(lastcall_deps INTERFACE ${BEARSSL_LIBRARY})
target_link_libraries(lastcall_deps INTERFACE nlohmann_json::nlohmann_json CLI11::CLI11)
