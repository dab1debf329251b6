# Enforces the arrows between lastcall's layers (cmake/Layers.cmake, docs/architecture.md), run as
#   cmake -DSOURCE_DIR=<repo>/src [-DLAYERS_FILE=...] [-DTESTING_DIR=...] -P CheckLayers.cmake
# Fails (a FATAL_ERROR, which fails the build) when
# - a file of layer L (SOURCE_DIR/L/*) includes a header of a layer M that L may not use: a header
#   is named by its path from src/ ("base/text.h"), or, inside a wing, by its bare name;
# - a file in SOURCE_DIR/ itself other than main.cc (the composition root) exists: every source
#   belongs to a layer;
# - a file other than main.cc, the CLI's own files and tests includes cli/cli.h (subcommands
#   register through cli/subcommand.h; only main lists them);
# - a file other than a unit test includes a test helper (a header of TESTING_DIR, default
#   SOURCE_DIR/../tests/support: the lastcall_testing target, which only tests link).
# Unit tests (*_test.cc) may include any layer: one test binary links them all, and a test of a
# low layer may drive it with a higher one (cli_test parses real subcommands).
# Only #include "..." lines count; system headers use <...>.
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "CheckLayers.cmake: set -DSOURCE_DIR=<the src directory>")
endif()
if(NOT LAYERS_FILE)
  set(LAYERS_FILE ${CMAKE_CURRENT_LIST_DIR}/Layers.cmake)
endif()
include(${LAYERS_FILE})
if(NOT TESTING_DIR)
  set(TESTING_DIR ${SOURCE_DIR}/../tests/support)
endif()
file(GLOB testing_headers RELATIVE ${TESTING_DIR} ${TESTING_DIR}/*.h)

# Which layer owns each bare header name (for includes written without a folder).
foreach(layer IN LISTS LASTCALL_LAYERS)
  file(GLOB headers RELATIVE ${SOURCE_DIR}/${layer} ${SOURCE_DIR}/${layer}/*.h)
  foreach(header IN LISTS headers)
    set(owner_of_${header} ${layer})
  endforeach()
endforeach()

set(problems "")

# Appends to `problems` one line per include of `file` (in `layer`) that the table forbids.
function(check_file file layer)
  file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  file(RELATIVE_PATH shown ${SOURCE_DIR} ${file})
  get_filename_component(name ${file} NAME)
  set(allowed ${layer} ${LASTCALL_LAYER_USES_${layer}})
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" included "${line}")
    get_filename_component(included_name "${included}" NAME)
    set(target_layer "")
    if(included MATCHES "^([a-z0-9_]+)/[^/]+$" AND CMAKE_MATCH_1 IN_LIST LASTCALL_LAYERS)
      set(target_layer ${CMAKE_MATCH_1})
    elseif(NOT included MATCHES "/" AND NOT EXISTS ${SOURCE_DIR}/${layer}/${included}
           AND DEFINED owner_of_${included})
      set(target_layer ${owner_of_${included}})
    endif()
    if(target_layer AND NOT target_layer IN_LIST allowed AND NOT name MATCHES "_test\\.cc$")
      list(JOIN allowed ", " allowed_text)
      list(APPEND problems "src/${shown} (layer ${layer}) includes ${included}, of layer \
${target_layer}, which ${layer} may not use (it may use: ${allowed_text})")
    endif()
    if(included_name IN_LIST testing_headers AND NOT name MATCHES "_test\\.cc$")
      list(APPEND problems
        "src/${shown} includes ${included}, a test helper (tests/support), which only tests may")
    endif()
    if(included_name STREQUAL "cli.h" AND NOT name MATCHES "^(main|cli|.*_test)\\.cc$")
      list(APPEND problems
        "src/${shown} includes ${included}, which only main.cc and the CLI may (use cli/subcommand.h)")
    endif()
  endforeach()
  set(problems "${problems}" PARENT_SCOPE)
endfunction()

file(GLOB loose RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/*.cc ${SOURCE_DIR}/*.h)
foreach(name IN LISTS loose)
  if(NOT name STREQUAL "main.cc")
    list(APPEND problems
      "src/${name} belongs to no layer: move it into the folder of its layer (cmake/Layers.cmake)")
  endif()
endforeach()

foreach(layer IN LISTS LASTCALL_LAYERS)
  file(GLOB files ${SOURCE_DIR}/${layer}/*.cc ${SOURCE_DIR}/${layer}/*.h)
  foreach(file IN LISTS files)
    check_file(${file} ${layer})
  endforeach()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "lastcall's layers: a layer uses only the layers cmake/Layers.cmake lets "
    "it (docs/architecture.md):\n  ${text}")
endif()
