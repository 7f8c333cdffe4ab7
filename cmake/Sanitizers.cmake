add_library(evident_sanitizers INTERFACE)
if(EVIDENT_SANITIZE)
  list(JOIN EVIDENT_SANITIZE "," _evident_sanitizers)
  target_compile_options(evident_sanitizers INTERFACE
    -fsanitize=${_evident_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(evident_sanitizers INTERFACE -fsanitize=${_evident_sanitizers})
endif()
