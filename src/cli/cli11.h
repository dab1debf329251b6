#pragma once

// CLI11, included through this header so that every file gets it the same way: GCC 12 at -O2
// reports a false "potential null pointer dereference" (-Wnull-dereference, an error here) inside
// CLI11's inline string helpers (CLI::detail::split) once they are inlined into our code. The
// warning is about CLI11's code, so it is silenced for CLI11's headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
