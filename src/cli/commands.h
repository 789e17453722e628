// File: src/cli/commands.h
//
// The subcommands of the `uzram` program. Each lives in its own file
// (bench_command.cc, stress_command.cc, serve_command.cc, ...) and registers
// itself at static-initialization time with a CommandRegistrar:
//
//   static uzram::cli::CommandRegistrar reg(100, add_bench_command);
//
// main.cc builds the CLI11 app from the registry in `order`. Exceptions are
// allowed in cli/ (CLI11 throws on bad arguments); they never cross into the
// library.
#pragma once

#include <CLI/CLI.hpp>

namespace uzram::cli {

using AddCommandFn = void (*)(CLI::App& app);

// Registers a subcommand; `order` sets its place in --help.
struct CommandRegistrar {
  CommandRegistrar(int order, AddCommandFn add);
};

// Adds every registered subcommand to app, in order.
void add_registered_commands(CLI::App& app);

}  // namespace uzram::cli
