# The commit `lastcall version` reports beside the project version: LASTCALL_GIT_COMMIT.
# From LASTCALL_REVISION when set (a build whose sources are not a git checkout but whose commit
# is known, e.g. the Dockerfile's REVISION), else from git at configure time, else "unknown"
# (a source tarball). Configure time, so a new commit re-runs configure: HEAD's reflog is a
# configure dependency.
set(LASTCALL_REVISION "" CACHE STRING "Commit reported by `lastcall version` (default: from git)")

set(LASTCALL_GIT_COMMIT unknown)
if(LASTCALL_REVISION)
  set(LASTCALL_GIT_COMMIT "${LASTCALL_REVISION}")
else()
  find_package(Git QUIET)
  if(GIT_FOUND)
    # git_query(VAR ARGS...): VAR = git's one-line answer, or "" when git fails.
    function(git_query var)
      execute_process(COMMAND "${GIT_EXECUTABLE}" ${ARGN} WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
        RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(NOT status EQUAL 0)
        set(out "")
      endif()
      set(${var} "${out}" PARENT_SCOPE)
    endfunction()
    git_query(_git_toplevel rev-parse --show-toplevel)
    # Sources unpacked inside some other repository are not a checkout of lastcall.
    if(_git_toplevel)
      file(REAL_PATH "${_git_toplevel}" _git_toplevel)
      file(REAL_PATH "${CMAKE_SOURCE_DIR}" _source_dir)
    endif()
    if(_git_toplevel AND _git_toplevel STREQUAL _source_dir)
      git_query(_git_commit rev-parse --short=12 HEAD)
      git_query(_git_reflog rev-parse --git-path logs/HEAD)
      if(_git_commit)
        set(LASTCALL_GIT_COMMIT "${_git_commit}")
      endif()
      if(_git_reflog)
        get_filename_component(_git_reflog "${_git_reflog}" ABSOLUTE BASE_DIR "${CMAKE_SOURCE_DIR}")
        if(EXISTS "${_git_reflog}")
          set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_git_reflog}")
        endif()
      endif()
    endif()
  endif()
endif()
message(STATUS "lastcall ${PROJECT_VERSION}, commit ${LASTCALL_GIT_COMMIT}")
