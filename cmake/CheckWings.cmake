# Enforces the arrows between lastcall's wings (docs/architecture.md), run as
#   cmake -DSOURCE_DIR=<repo>/src -P CheckWings.cmake
# Fails (a FATAL_ERROR, which fails the build) when
# - a core file (SOURCE_DIR/*.cc|h) includes a header of a wing (SOURCE_DIR/rehearse, SOURCE_DIR/kube);
# - a wing includes a header of the other wing (each depends on the core only);
# - a file other than main.cc, cli.cc and tests includes cli.h (subcommands register through
#   subcommand.h; only main lists them);
# - a file other than a unit test includes a test helper (a header of TESTING_DIR, default
#   SOURCE_DIR/../tests/support: the lastcall_testing target, which only tests link).
# Only #include "..." lines count; system headers use <...>.
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "CheckWings.cmake: set -DSOURCE_DIR=<the src directory>")
endif()
set(wings rehearse kube)
if(NOT TESTING_DIR)
  set(TESTING_DIR ${SOURCE_DIR}/../tests/support)
endif()
file(GLOB testing_headers RELATIVE ${TESTING_DIR} ${TESTING_DIR}/*.h)

# Header names of each wing; a wing's headers are included by their bare name ("rehearse_load.h"),
# or by a path ending in it ("rehearse/rehearse_load.h").
foreach(wing IN LISTS wings)
  file(GLOB headers RELATIVE ${SOURCE_DIR}/${wing} ${SOURCE_DIR}/${wing}/*.h)
  set(headers_of_${wing} ${headers})
endforeach()

set(problems "")

# Appends to `problems` one line per include of `file` that names a header in `forbidden`.
function(check_includes file owner forbidden_wings)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  file(RELATIVE_PATH shown ${SOURCE_DIR} ${file})
  get_filename_component(name ${file} NAME)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" included "${line}")
    get_filename_component(included_name "${included}" NAME)
    foreach(wing IN LISTS forbidden_wings)
      if(included_name IN_LIST headers_of_${wing} OR included MATCHES "^(\\.\\./)*${wing}/")
        list(APPEND problems
          "src/${shown} (${owner}) includes ${included}, a header of the ${wing} wing")
      endif()
    endforeach()
    if(included_name IN_LIST testing_headers AND NOT name MATCHES "_test\\.cc$")
      list(APPEND problems
        "src/${shown} includes ${included}, a test helper (tests/support), which only tests may")
    endif()
    if(included_name STREQUAL "cli.h" AND NOT name MATCHES "^(main|cli|.*_test)\\.cc$")
      list(APPEND problems
        "src/${shown} includes cli.h, which only main.cc and the CLI may (use subcommand.h)")
    endif()
  endforeach()
  set(problems "${problems}" PARENT_SCOPE)
endfunction()

file(GLOB core_files ${SOURCE_DIR}/*.cc ${SOURCE_DIR}/*.h)
foreach(file IN LISTS core_files)
  get_filename_component(name ${file} NAME)
  if(name STREQUAL "main.cc")
    continue()  # the composition root: it lists every wing's subcommand
  endif()
  check_includes(${file} "core" "${wings}")
endforeach()

foreach(wing IN LISTS wings)
  set(others ${wings})
  list(REMOVE_ITEM others ${wing})
  file(GLOB wing_files ${SOURCE_DIR}/${wing}/*.cc ${SOURCE_DIR}/${wing}/*.h)
  foreach(file IN LISTS wing_files)
    check_includes(${file} "${wing} wing" "${others}")
  endforeach()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "lastcall's wings: arrows point toward the core only "
    "(docs/architecture.md):\n  ${text}")
endif()
