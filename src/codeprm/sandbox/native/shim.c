/* Linked into every compiled C/C++ program (codeprm.sandbox.native): the program becomes a shared
   object that the sandbox's child loads with ctypes, so it runs under exactly the Python sample's
   isolation (execve stays denied). codeprm_run() calls main once and returns its exit status; exit()
   and a failed assert() come back here (longjmp) instead of ending the child before it reports. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __cplusplus
#include <iostream>
extern "C" {
#endif
int main(int, char **);
void __real_exit(int);
static jmp_buf codeprm_env;
static int codeprm_armed;

void __wrap_exit(int code) {
  if (codeprm_armed) longjmp(codeprm_env, (code & 255) + 1);
  __real_exit(code);
}

void __wrap___assert_fail(const char *expr, const char *file, unsigned line, const char *fn) {
  fflush(stdout);
  fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, fn, expr);
  if (codeprm_armed) longjmp(codeprm_env, 134 + 1);
  abort();
}

int codeprm_run(void) {
  static char name[] = "main";
  char *argv[] = {name, 0};
  int r = setjmp(codeprm_env);
  if (r == 0) {
    codeprm_armed = 1;
    r = main(1, argv);
  } else {
    r -= 1;
  }
  codeprm_armed = 0;
#ifdef __cplusplus
  std::cout.flush(); /* sync_with_stdio(false) keeps its own buffer */
  std::cerr.flush();
#endif
  fflush(NULL);
  return r & 255;
}
#ifdef __cplusplus
}
#endif
