// File: src/cli/commands.h
//
// The subcommands of the `uzram` program. Each lives in its own file and
// registers itself on the CLI11 app; main.cc only calls these.
// Exceptions are allowed in cli/ (CLI11 throws on bad arguments); they never
// cross into the library.
#pragma once

#include <CLI/CLI.hpp>

namespace uzram::cli {

void add_bench_command(CLI::App& app);   // bench_command.cc: uzram bench
void add_stress_command(CLI::App& app);  // stress_command.cc: uzram stress
void add_serve_command(CLI::App& app);   // serve_command.cc: uzram serve

}  // namespace uzram::cli
