// sendcheck TOOL ARGS... : runs sendcheck-TOOL, like git runs git-TOOL.
#include <diag/toolbox.h>

int main(int argc, char** argv) { return diag::toolbox::run_front(argc, argv); }
