// uzram: the command-line front end. See `uzram --help` and README.md.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace uzram::cli {
namespace {
std::vector<std::pair<int, AddCommandFn>>& registry() {
  static std::vector<std::pair<int, AddCommandFn>> commands;  // filled before main() runs
  return commands;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, AddCommandFn add) { registry().emplace_back(order, add); }

void add_registered_commands(CLI::App& app) {
  auto& commands = registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, add] : commands) add(app);
}

}  // namespace uzram::cli

int main(int argc, char** argv) {
  CLI::App app{"uzram: compressed memory for Linux, in user space"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "uzram 0.1.0");
  uzram::cli::add_registered_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every bad argument exits 2, whatever
    // CLI11's own code for it.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uzram: %s\n", e.what());
    return 1;
  }
  return 0;
}
