add_library(evident_warnings INTERFACE)
target_compile_options(evident_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  $<$<BOOL:${EVIDENT_WERROR}>:-Werror>)
