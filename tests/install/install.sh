#!/usr/bin/env bash
# cmake --install into a DESTDIR: the layout Debian users expect (GNUInstallDirs), man
# pages that render without warnings, bash completion that completes, and a tiny
# program built against the installed pkg-config file and run against the installed
# shared library.
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
B=$XCHG_BUILD_DIR
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }
cache() { sed -n "s|^$1:[A-Z]*=||p" "$B/CMakeCache.txt"; }
PREFIX=$(cache CMAKE_INSTALL_PREFIX)
LIBDIR=$(cache CMAKE_INSTALL_LIBDIR)
MAN=$(cache XCHG_MAN)
# a sanitizer build's library needs its runtime in the program too
SAN=""; [ "$(cache XCHG_SANITIZE)" = ON ] && SAN="-fsanitize=address,undefined"
ROOT=$T/root
P=$ROOT$PREFIX

DESTDIR=$ROOT cmake --install "$B" >"$T/install.log" 2>&1 && ok || { bad "cmake --install: $(tail -5 "$T/install.log")"; finish; exit; }

have() { [ -e "$P/$1" ] && ok || bad "not installed: $PREFIX/$1"; }
have_x() { [ -x "$P/$1" ] && [ -f "$P/$1" ] && ok || bad "not an installed program: $PREFIX/$1"; }
have_x bin/xchg
have_x bin/xchg-synth
have_x sbin/xchg-matcherd
have_x sbin/xchg-keyd
have "$LIBDIR/libexchange.so"
have "$LIBDIR/libexchange.a"
have include/exchange.h
for h in "$XCHG_SOURCE_DIR"/include/exchange/*.h; do have "include/exchange/$(basename "$h")"; done
have "$LIBDIR/pkgconfig/exchange.pc"
have share/bash-completion/completions/xchg
for f in "$XCHG_SOURCE_DIR"/policies/*.yaml; do have "share/doc/exchange/examples/policies/$(basename "$f")"; done
# private headers of the library are never installed
priv=$(find "$P/include" -name '*internal*.h' | head -3)
[ -z "$priv" ] && ok || bad "private headers installed: $priv"
[ "$(stat -c %a "$P/bin/xchg")" = 755 ] && ok || bad "bin/xchg mode $(stat -c %a "$P/bin/xchg")"
# the installed tool runs and names its version
"$P/bin/xchg" --version | grep -q "^xchg [0-9]" && ok || bad "installed xchg --version"

if [ "$MAN" = ON ]; then
  for page in xchg.1 xchg-agreement.5 xchg-matcherd.8 xchg-keyd.8 xchg-synth.1; do have "share/man/man${page##*.}/$page"; done
  # every command has a page (its own, or an alias to its group's page)
  for c in $("$P/bin/xchg" --commands | awk 'NF == 1'); do have "share/man/man1/xchg-$c.1"; done
  # each page renders without a warning
  for f in "$P"/share/man/man*/*; do
    grep -q '^\.so ' "$f" && continue
    w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    [ -z "$w" ] && ok || bad "man -l $(basename "$f"): $w"
    MANWIDTH=80 man -l "$f" 2>/dev/null | grep -q "^NAME" && ok || bad "man -l $(basename "$f"): no NAME section"
  done
else
  echo "skipped: man pages (XCHG_MAN=OFF)"
fi

# completion from the installed script completes commands, sub-commands and options
out=$(PATH="$P/bin:$PATH" bash -c '
  . "$1"
  c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _xchg; echo "[${COMPREPLY[*]}]"; }
  c xchg rep; c xchg audit v; c xchg keygen --unp; c xchg release list --js; c xchg help match pu' _ "$P/share/bash-completion/completions/xchg")
# (release list takes no --json: nothing to complete)
[ "$out" = $'[report]\n[verify]\n[--unprotected]\n[]\n[purge]' ] && ok || bad "completion: '$out'"

# a tiny program against the installed pkg-config file and shared library
cat >"$T/t.c" <<'C'
#include <exchange.h>
#include <stdio.h>
int main(void)
{
    if (xchg_init() != XCHG_OK)
        return 1;
    printf("library %s\n", xchg_version());
    return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR=$ROOT PKG_CONFIG_PATH=$P/$LIBDIR/pkgconfig
v=$(pkg-config --modversion exchange) && ok || bad "pkg-config --modversion exchange"
# shellcheck disable=SC2046
cc -Wall -Werror $SAN $(pkg-config --cflags exchange) "$T/t.c" -o "$T/t" $(pkg-config --libs exchange) \
  2>"$T/cc.err" && ok || bad "building against exchange.pc: $(cat "$T/cc.err")"
got=$(LD_LIBRARY_PATH=$P/$LIBDIR "$T/t" 2>"$T/t.err") && ok || bad "the tiny program failed: $(head -3 "$T/t.err")"
[ "$got" = "library $v" ] && ok || bad "tiny program printed '$got', want 'library $v'"
ldd "$T/t" | grep -q "$P/$LIBDIR/libexchange.so" 2>/dev/null && ok ||
  { LD_LIBRARY_PATH=$P/$LIBDIR ldd "$T/t" | grep -q "$P/$LIBDIR/libexchange.so" && ok || bad "not linked to the installed libexchange.so"; }
"$P/bin/xchg" --version | grep -qF "(library $v)" && ok || bad "xchg --version and exchange.pc disagree"
finish
