# Sourced by scripts/bootstrap.sh and scripts/test.sh: every build dir they configure uses Ninja
# and, when installed, ccache. The presets name Ninja themselves; the environment also covers
# scripts/build-static.sh and the scripts that configure build/ on their own. CMake reads these
# variables only when it creates a build dir.
if command -v ninja >/dev/null; then
  export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
fi
if command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  # Paths relative to the checkout, so two clones (CI's fresh one, yesterday's) share objects.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
