// The reportbridge binary: everything lives in reportbridge::app.
#include "bridge/app/cli.hpp"

int main(int argc, char** argv) { return reportbridge::app::main(argc, argv); }
