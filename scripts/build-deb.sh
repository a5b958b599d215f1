#!/usr/bin/env bash
# build-deb.sh STAGE OUTDIR -- builds optimist_<version>_<arch>.deb from the
# install tree STAGE (made by `make install DESTDIR=STAGE PREFIX=/usr`)
# with dpkg-deb, as `make deb` does. Why not dpkg-buildpackage: the Makefile
# already is the build system, and a deb from its install tree is what
# dpkg-buildpackage with debhelper would produce, without a second copy of
# the build rules in debian/rules. dpkg-shlibdeps still computes Depends.
set -euo pipefail
stage=$(realpath "$1")
out=$(realpath "$2")
here=$(cd "$(dirname "$0")/.." && pwd)
pkg=$here/packaging/debian

version=${DEB_VERSION:-}
if [ -z "$version" ]; then
    n=$(git -C "$here" rev-list --count HEAD 2>/dev/null || echo 0)
    version="0.2.$n"
fi
arch=$(dpkg --print-architecture)
date=$(date -R)

# Documentation Debian policy asks for.
doc=$stage/usr/share/doc/optimist
install -d "$doc"
install -m 0644 "$pkg/copyright" "$doc/copyright"
install -m 0644 "$pkg/README.Debian" "$doc/README.Debian"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$date/" "$pkg/changelog.in" |
    gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
for m in "$stage"/usr/share/man/man8/*.8 "$stage"/usr/share/man/man5/*.5; do
    [ -e "$m" ] && gzip -9nf "$m"
done

# Depends from the binaries' libraries (dpkg-shlibdeps wants a
# debian/control in its working folder).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: optimist\n\nPackage: optimist\nArchitecture: any\n' \
    >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O \
    "$stage/usr/sbin/optimist-fcgi" "$stage/usr/bin/optimistctl" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')

install -d -m 0755 "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@SHLIBS@/$shlibs/" "$pkg/control.in" >"$stage/DEBIAN/control"
chmod 0644 "$stage/etc/optimist/optimist.conf" # postinst makes it 0640 root:optimist
install -m 0644 "$pkg/conffiles" "$stage/DEBIAN/conffiles"
for s in postinst postrm prerm; do
    install -m 0755 "$pkg/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 |
    sort -z | xargs -0 md5sum | sed 's|  \./|  |' >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums"

deb=$out/optimist_${version}_${arch}.deb
fakeroot dpkg-deb --build -Zxz "$stage" "$deb" >/dev/null
echo "$deb"
