#!/usr/bin/env bash
# Installs tlswire's C library: lib/libtlswire_ffi.{so,a}, include/tlswire.h and
# lib/pkgconfig/tlswire{,-static}.pc under PREFIX (default /usr/local).
#
# Usage: crates/ffi/install.sh [PREFIX]
# Builds the release library with cargo first, unless TLSWIRE_LIB_DIR names a directory that
# already holds libtlswire_ffi.so and libtlswire_ffi.a.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-/usr/local}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n1)"

if [ -z "${TLSWIRE_LIB_DIR:-}" ]; then
  (cd "$here/../.." && cargo build --release -p tlswire-ffi)
  target="${CARGO_TARGET_DIR:-$here/../../target}"
  TLSWIRE_LIB_DIR="$target/release"
fi
for lib in libtlswire_ffi.so libtlswire_ffi.a; do
  [ -f "$TLSWIRE_LIB_DIR/$lib" ] || { echo "install.sh: no $lib in $TLSWIRE_LIB_DIR" >&2; exit 1; }
done

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$TLSWIRE_LIB_DIR/libtlswire_ffi.so" "$prefix/lib/"
install -m 0644 "$TLSWIRE_LIB_DIR/libtlswire_ffi.a" "$prefix/lib/"
install -m 0644 "$here/include/tlswire.h" "$prefix/include/"
for pc in tlswire tlswire-static; do
  sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/$pc.pc.in" \
    > "$prefix/lib/pkgconfig/$pc.pc"
done
echo "installed tlswire $version under $prefix"
