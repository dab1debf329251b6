# Marks the integration test cases of the given source files RUN_SERIAL and labels them `serial`
# (scripts/test.sh --quick leaves those to the full run; tests/CMakeLists.txt runs
# this after each build of integration_tests: the case names are known only from the binary).
# -DTEST_EXECUTABLE=... -DFILES=<doctest --source-file filters, comma-separated>
# -DPREFIX=integration/ -DOUT=<the ctest script to write>
execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-cases "--source-file=${FILES}"
  OUTPUT_VARIABLE output RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${TEST_EXECUTABLE} --list-test-cases exited ${result}:\n${output}")
endif()
string(REPLACE "\n" ";" output "${output}")
set(script "")
set(count 0)
foreach(line ${output})
  if(line MATCHES "^=+$" OR line MATCHES "^\\[doctest\\] ")
    continue()
  endif()
  string(APPEND script
    "set_tests_properties([==[${PREFIX}${line}]==] PROPERTIES RUN_SERIAL TRUE LABELS serial)\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "no test case in ${FILES}: tests/CMakeLists.txt names a file that is gone")
endif()
file(WRITE "${OUT}" "${script}")
