/* Keeps the artifacts loadable on glibc 2.34 (Amazon Linux 2023) although they are linked
 * on a newer glibc: glibc 2.35 gave hypot and hypotf a new symbol version (a new, correctly
 * rounded implementation). The link wraps both (-Wl,--wrap=hypot) and the wrappers call the
 * previous version, which every glibc keeps. BASE is the architecture's first glibc
 * version (GLIBC_2.2.5 on x86_64, GLIBC_2.17 on aarch64), passed by build.rs. */
#define STR2(x) #x
#define STR(x) STR2(x)

double mosaic_hypot_base(double, double);
float mosaic_hypotf_base(float, float);
__asm__(".symver mosaic_hypot_base, hypot@" STR(BASE));
__asm__(".symver mosaic_hypotf_base, hypotf@" STR(BASE));

double __wrap_hypot(double x, double y) { return mosaic_hypot_base(x, y); }
float __wrap_hypotf(float x, float y) { return mosaic_hypotf_base(x, y); }
