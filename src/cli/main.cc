// uzram: the command-line front end. See `uzram --help` and README.md.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"uzram: compressed memory for Linux, in user space"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "uzram 0.1.0");
  uzram::cli::add_bench_command(app);
  uzram::cli::add_stress_command(app);
  uzram::cli::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uzram: %s\n", e.what());
    return 1;
  }
  return 0;
}
